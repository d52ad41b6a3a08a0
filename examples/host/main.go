// Command host is a tiny Packer-like core, the program to run first. It
// discovers plugins in a directory: one-component binaries named
// builder-NAME and command-NAME, and plugin sets named plugin-NAME (each
// asked what it serves with "describe"). It runs "host COMMAND ARGS..."
// through the command plugin, and serves the command's env.Builder(NAME)
// by starting that builder's binary, one process per builder.
//
//	go build -o bin/ ./examples/...
//	bin/host                    # list every component found
//	bin/host echo hello
//	bin/host build examples/host/template.json
//	bin/host serve echo         # keep command-echo supervised; kill -9 it
//	bin/host upload SRC DST     # move a file through communicator/demo-local
//	bin/host download SRC DST
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
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// prefixes are the names discovery looks for: the original system's
// one-component binaries, and plugin sets.
var prefixes = []string{"builder-", "command-", "plugin-"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("plugins", "", "directory holding builder-NAME, command-NAME and plugin-NAME binaries (default: beside this program)")
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
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: stderr})
	defer host.CleanupClients()

	ctx, stop := interruptible(stderr)
	defer stop()
	cat, err := discover(ctx, *dir)
	if err != nil {
		fail(stderr, err)
		return 1
	}
	for _, s := range cat.Skipped() {
		logger.Warn("plugin skipped", "path", s.Path, "reason", s.Reason)
	}
	c := &core{
		cat:    cat,
		ui:     &terminalUi{out: stdout, err: stderr},
		logger: logger,
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stdout, "usage: host [-plugins DIR] [-v] COMMAND ARGS...")
		c.list(stdout, *dir)
		return 0
	}
	if fs.Arg(0) == "serve" {
		return c.serve(ctx, fs.Args()[1:], stdout, stderr)
	}
	handled, code, err := c.fileCommand(ctx, fs.Args(), stdout)
	if !handled {
		code, err = c.Cli(ctx, fs.Args())
	}
	if err != nil {
		fail(stderr, err)
	}
	if ctx.Err() != nil {
		// As a shell reports a program ended by SIGINT.
		fmt.Fprintln(stderr, "host: interrupted")
		return exitInterrupted
	}
	return code
}

// exitInterrupted is the exit status after Ctrl-C or SIGTERM, once the
// plugins have cleaned up: 128 + SIGINT, as shells use.
const exitInterrupted = 130

// fail prints err after the program's name, once: the library's errors
// already start with "host: ".
func fail(stderr io.Writer, err error) {
	fmt.Fprintf(stderr, "host: %s\n", strings.TrimPrefix(err.Error(), "host: "))
}

// interruptible returns a context cancelled by the first Ctrl-C (SIGINT)
// or SIGTERM, which cancels every build and waits for its cleanup; a
// second signal then takes its default action and ends the host at once
// (its plugins follow it through their lifelines).
func interruptible(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			fmt.Fprintf(stderr, "host: %v: cancelling; waiting for the plugins to clean up (again to quit at once)\n", s)
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(sigs)
		cancel()
	}
}

// discover finds every plugin in dir, under each prefix.
func discover(ctx context.Context, dir string) (*host.Catalog, error) {
	var cat *host.Catalog
	for _, p := range prefixes {
		found, err := host.Discover(ctx, p, dir)
		if err != nil {
			return nil, err
		}
		if cat == nil {
			cat = found
		} else {
			cat = cat.Merge(found)
		}
	}
	return cat, nil
}

// core is the host: it is also the Environment command plugins get.
type core struct {
	cat    *host.Catalog
	ui     shared.Ui
	logger hclog.Logger

	mu      sync.Mutex
	clients []*host.Client // builders started for the running command
}

// client returns a new client, and so a new process, for component c;
// or, when PLUGWIRE_REATTACH names its binary (see the README's debug
// recipe), a client of that plugin running in debug mode.
func (c *core) client(comp host.Component) (*host.Client, error) {
	return c.clientOf(comp, nil)
}

// clientOf is client for a component of the kinds plugins dispense (nil:
// plugwire's own).
func (c *core) clientOf(comp host.Component, plugins map[string]plugin.Plugin) (*host.Client, error) {
	r, err := host.LookupReattach(&exec.Cmd{Path: comp.Path})
	if err != nil {
		return nil, err
	}
	return comp.NewClient(&host.Config{Logger: c.logger, Reattach: r, Plugins: plugins}), nil
}

// Builder starts the builder NAME in a process of its own and returns it,
// with the provisioners its block lists (see provisioned).
func (c *core) Builder(name string) (shared.Builder, error) {
	comp, err := c.cat.Lookup(shared.BuilderPluginName, name)
	if err != nil {
		return nil, err
	}
	cl, err := c.client(comp)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clients = append(c.clients, cl)
	c.mu.Unlock()
	b, err := host.Dispense[shared.Builder](cl, comp.Dispense)
	if err != nil {
		return nil, err
	}
	return &provisioned{Builder: b, c: c}, nil
}

// Cli runs the command ARGS[0] with the rest of args, then ends the
// builders it started.
func (c *core) Cli(ctx context.Context, args []string) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("no command given")
	}
	comp, err := c.cat.Lookup(shared.CommandPluginName, args[0])
	if err != nil {
		return 2, err
	}
	cl, err := c.client(comp)
	if err != nil {
		return 2, err
	}
	defer cl.Kill()
	defer c.killBuilders()
	// Ctrl-C while the plugin starts ends the start at once.
	if err := cl.Start(ctx); err != nil {
		return 1, err
	}
	cmd, err := host.Dispense[shared.RemoteCommand](cl, comp.Dispense)
	if err != nil {
		return 1, err
	}
	return cmd.RunErr(ctx, c, args[1:])
}

// killBuilders ends the builder processes started so far, in parallel.
func (c *core) killBuilders() {
	c.mu.Lock()
	cls := c.clients
	c.clients = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Go(cl.Kill)
	}
	wg.Wait()
}

// Ui is the terminal.
func (c *core) Ui() shared.Ui { return c.ui }

// list prints every component found, with its version and binary, and
// each command's synopsis. The commands of one binary are dispensed from
// one process: a set's components can share it.
func (c *core) list(w io.Writer, dir string) {
	comps := c.cat.All()
	if len(comps) == 0 {
		fmt.Fprintf(w, "no plugins found in %s\n", dir)
		return
	}
	synopses := c.synopses(comps)
	picked := map[string]string{}
	for _, comp := range c.cat.Components() {
		picked[comp.Kind+" "+comp.Name] = comp.Path
	}
	fmt.Fprintf(w, "components found in %s:\n", dir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tNAME\tVERSION\tBINARY\tSYNOPSIS")
	for _, comp := range comps {
		v := comp.Version
		if v == "" {
			v = "-"
		}
		bin := filepath.Base(comp.Path)
		if ext := filepath.Ext(bin); strings.EqualFold(ext, ".exe") {
			bin = bin[:len(bin)-len(ext)] // names shown drop .exe
		}
		if picked[comp.Kind+" "+comp.Name] != comp.Path {
			bin += " (shadowed)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", comp.Kind, comp.Name, v, bin, synopses[comp])
	}
	_ = tw.Flush()
}

// synopses asks every command for its synopsis: one process per binary,
// all binaries at once.
func (c *core) synopses(comps []host.Component) map[host.Component]string {
	byPath := map[string][]host.Component{}
	for _, comp := range comps {
		if comp.Kind == shared.CommandPluginName {
			byPath[comp.Path] = append(byPath[comp.Path], comp)
		}
	}
	var mu sync.Mutex
	out := map[host.Component]string{}
	var wg sync.WaitGroup
	for _, cs := range byPath {
		wg.Go(func() {
			cl, err := c.client(cs[0])
			if err != nil {
				c.logger.Warn("no synopsis", "path", cs[0].Path, "error", err)
				return
			}
			defer cl.Kill()
			for _, comp := range cs {
				cmd, err := host.Dispense[shared.RemoteCommand](cl, comp.Dispense)
				if err != nil {
					c.logger.Warn("no synopsis", "command", comp.Name, "error", err)
					continue
				}
				s := cmd.Synopsis()
				mu.Lock()
				out[comp] = s
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// terminalUi says things on stdout and errors on stderr.
type terminalUi struct {
	mu       sync.Mutex
	out, err io.Writer
}

func (u *terminalUi) Say(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.out, format+"\n", a...)
}

func (u *terminalUi) Error(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.err, format+"\n", a...)
}
