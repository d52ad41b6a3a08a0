// Command host is a tiny Packer-like core, the program to run first: it
// finds plugins by name in a directory (command-NAME, builder-NAME), runs
// "host COMMAND ARGS..." through the command plugin, and serves the
// command's env.Builder(NAME) by starting builder-NAME.
//
//	go build -o bin/ ./examples/...
//	bin/host echo hello
//	bin/host build examples/host/template.json
//
// Plugins are looked for beside the host binary, or in -plugins DIR.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("plugins", "", "directory holding command-NAME and builder-NAME binaries (default: beside this program)")
	verbose := fs.Bool("v", false, "log everything the plugins log")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "host: finding the plugin directory: %v\n", err)
			return 1
		}
		*dir = filepath.Dir(exe)
	}
	level := hclog.Warn
	if *verbose {
		level = hclog.Trace
	}
	c := &core{
		dir:    *dir,
		ui:     &terminalUi{out: stdout, err: stderr},
		logger: hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: stderr}),
	}
	defer host.CleanupClients()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if fs.NArg() == 0 {
		c.usage()
		return 2
	}
	code, err := c.Cli(ctx, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "host: %v\n", err)
	}
	return code
}

// core is the host: it is also the Environment command plugins get.
type core struct {
	dir    string
	ui     shared.Ui
	logger hclog.Logger
}

// client starts the plugin binary kind-name.
func (c *core) client(kind, name string) (*host.Client, error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("bad %s name %q", kind, name)
	}
	path := filepath.Join(c.dir, kind+"-"+name)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no %s %q: %s not found", kind, name, path)
	}
	return host.NewClient(&host.Config{Cmd: exec.Command(path), Logger: c.logger}), nil
}

// Builder starts builder-NAME and returns its Builder.
func (c *core) Builder(name string) (shared.Builder, error) {
	cl, err := c.client("builder", name)
	if err != nil {
		return nil, err
	}
	return cl.Builder()
}

// Cli runs command-ARGS[0] with the rest of args.
func (c *core) Cli(ctx context.Context, args []string) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("no command given")
	}
	cl, err := c.client("command", args[0])
	if err != nil {
		return 2, err
	}
	defer cl.Kill()
	cmd, err := cl.Command()
	if err != nil {
		return 1, err
	}
	return cmd.(shared.RemoteCommand).RunErr(ctx, c, args[1:])
}

// Ui is the terminal.
func (c *core) Ui() shared.Ui { return c.ui }

// usage lists the commands found, with their synopses.
func (c *core) usage() {
	c.ui.Error("usage: host [-plugins DIR] [-v] COMMAND ARGS...")
	paths, _ := filepath.Glob(filepath.Join(c.dir, "command-*"))
	sort.Strings(paths)
	var wg sync.WaitGroup
	lines := make([]string, len(paths))
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := strings.TrimPrefix(filepath.Base(p), "command-")
			lines[i] = fmt.Sprintf("  %-8s", name)
			cl, err := c.client("command", name)
			if err != nil {
				return
			}
			defer cl.Kill()
			if cmd, err := cl.Command(); err == nil {
				lines[i] += cmd.Synopsis()
			}
		}()
	}
	wg.Wait()
	if len(lines) > 0 {
		c.ui.Error("commands:\n%s", strings.Join(lines, "\n"))
	}
}

// terminalUi says things on stdout and errors on stderr.
type terminalUi struct {
	mu       sync.Mutex
	out, err io.Writer
}

func (u *terminalUi) Say(format string, a ...interface{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.out, format+"\n", a...)
}

func (u *terminalUi) Error(format string, a ...interface{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.err, format+"\n", a...)
}
