// Command plugin-demo is an example plugin set: one binary serving two
// builders ("file" and "sleep"), a command ("hello"), and components of
// the example host's own contracts (package contracts): the
// communicator "local" and the provisioner "upload", with a version.
// A host that discovers it with the prefix "plugin-" finds the builders
// demo-file and demo-sleep, the command demo-hello, communicator/local
// and provisioner/upload; it can dispense them all from one process, or
// start one process per use.
//
//	go build -o bin/ ./examples/...
//	bin/plugin-demo describe
//	bin/host demo-hello world
//
// Build with -ldflags "-X main.version=1.2.0" to give it another version.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/shared"
	"github.com/plugwire/plugwire/shared/config"
)

// version is what describe reports.
var version = "1.0.0"

func main() {
	s := plugwire.NewSet()
	s.Version = version
	s.RegisterBuilder("file", &File{})
	s.RegisterBuilder("sleep", &Sleep{})
	s.RegisterCommand("hello", Hello{})
	s.Register(contracts.CommunicatorKind, "local", contracts.Communicators.Plugin(Local{}))
	s.Register(contracts.ProvisionerKind, "upload", contracts.Provisioners.Plugin(Upload{}))
	s.Run()
}

// File is a builder that writes a file: its "path" (relative paths are
// taken from the host's working directory) with its "content".
type File struct {
	cfg fileConfig
}

type fileConfig struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Path    string `json:"path"`
	Content string `json:"content"`
}

// Prepare decodes and checks the config.
func (f *File) Prepare(raw any) error {
	if err := config.Decode(raw, &f.cfg); err != nil {
		return err
	}
	if f.cfg.Path == "" {
		return fmt.Errorf("file: \"path\" is required")
	}
	return nil
}

// Run runs the build's callbacks and writes the file.
func (f *File) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	if err := runBuild(ctx, build, ui); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.cfg.Path), 0o755); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if err := os.WriteFile(f.cfg.Path, []byte(f.cfg.Content), 0o644); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	ui.Say("file: wrote %d bytes to %s", len(f.cfg.Content), f.cfg.Path)
	return nil
}

// Sleep is a builder that pretends to own a VM for "seconds" (default 1):
// it "creates" it, waits, and "deletes" it, also when it is cancelled,
// as a builder that owns real resources must.
type Sleep struct {
	cfg sleepConfig
}

type sleepConfig struct {
	Type    string  `json:"type"`
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Prepare decodes and checks the config.
func (s *Sleep) Prepare(raw any) error {
	s.cfg = sleepConfig{Seconds: 1}
	if err := config.Decode(raw, &s.cfg); err != nil {
		return err
	}
	if s.cfg.Seconds < 0 || s.cfg.Seconds > 3600 {
		return fmt.Errorf("sleep: \"seconds\" is %v, want 0 to 3600", s.cfg.Seconds)
	}
	return nil
}

// Run creates the pretend VM, waits, and deletes it whatever happens.
func (s *Sleep) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	if err := runBuild(ctx, build, ui); err != nil {
		return err
	}
	ui.Say("sleep: creating a pretend VM for %vs", s.cfg.Seconds)
	defer func() {
		// Cleanup runs with its own time: ctx may be cancelled already.
		time.Sleep(100 * time.Millisecond)
		ui.Say("sleep: deleted the pretend VM")
	}()
	t := time.NewTimer(time.Duration(s.cfg.Seconds * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		ui.Say("sleep: done")
		return nil
	case <-ctx.Done():
		ui.Error("sleep: cancelled; deleting the pretend VM")
		return ctx.Err()
	}
}

// runBuild prepares and runs the host's Build, if there is one.
func runBuild(ctx context.Context, build shared.Build, ui shared.Ui) error {
	if build == nil {
		return nil
	}
	if err := build.Prepare(); err != nil {
		return err
	}
	return build.Run(ctx, ui)
}

// Hello is a command that greets its arguments.
type Hello struct{}

// Run says hello.
func (Hello) Run(_ context.Context, env shared.Environment, args []string) int {
	who := "world"
	if len(args) > 0 {
		who = strings.Join(args, " ")
	}
	env.Ui().Say("hello, %s, from plugin-demo %s (pid %d)", who, version, os.Getpid())
	return 0
}

// Synopsis says what Hello does.
func (Hello) Synopsis() string { return "Say hello from a plugin set" }
