package host_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// hostBuild is the host's Build: Run says something through the Ui it is
// given, reports that it was entered, and waits for its ctx.
type hostBuild struct{ entered chan struct{} }

func (b *hostBuild) Prepare() error { return nil }

func (b *hostBuild) Run(ctx context.Context, ui shared.Ui) error {
	close(b.entered)
	if ui != nil {
		ui.Say("host build calls the plugin's ui")
	}
	<-ctx.Done()
	return ctx.Err()
}

// blockingUi is a host Ui whose Say, once entered, calls onEnter, reports
// that it was entered and blocks until released.
type blockingUi struct {
	onEnter func()
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (u *blockingUi) Say(string, ...any) {
	u.once.Do(func() {
		// entered first: onEnter makes the plugin die, and the call can
		// return (and the test look at entered) before onEnter does.
		close(u.entered)
		u.onEnter()
	})
	<-u.release
}
func (u *blockingUi) Error(string, ...any) {}

// When the plugin process dies during a call, the call returns within 2 s
// an error wrapping ErrProcessExited that carries the exit status and the
// last stderr lines; so does every later call.
func TestPluginDiesDuringCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		config map[string]any
		// setup returns the Build and Ui to pass to Run, and a function to
		// run after Run returned; stdin is the plugin's stdin.
		setup  func(t *testing.T, p *plug, stdin io.Writer) (shared.Build, shared.Ui, func())
		status string
		tail   []string
	}{
		{
			name:   "during Prepare",
			config: map[string]any{"prepare": "exit"},
			status: "exit status 3",
			tail:   []string{"something went badly wrong", "exiting with status 3 in Builder.Prepare"},
		},
		{
			name:   "during Run",
			config: map[string]any{"run": "exit"},
			status: "exit status 3",
			tail:   []string{"exiting with status 3 in Builder.Run"},
		},
		{
			name:   "panic in a goroutine during Run",
			config: map[string]any{"run": "panic-goroutine"},
			status: "exit status 2",
			tail:   []string{"panic: helper panic in a goroutine of Builder.Run"},
		},
		{
			// The stack pushes the panic line out of the last lines; the
			// error keeps it all the same.
			name:   "panic under a long stack during Run",
			config: map[string]any{"run": "panic-deep"},
			status: "exit status 2",
			tail:   []string{"panic: helper panic deep in Builder.Run", "host_test.deepPanic"},
		},
		{
			name:   "while the host serves a callback",
			config: map[string]any{"run": "exit-in-host-callback"},
			setup: func(t *testing.T, _ *plug, stdin io.Writer) (shared.Build, shared.Ui, func()) {
				ui := &blockingUi{
					// Tell the plugin to die now that the host is in the
					// callback (it exits on a byte on its stdin).
					onEnter: func() { _, _ = stdin.Write([]byte{1}) },
					entered: make(chan struct{}),
					release: make(chan struct{}),
				}
				return nil, ui, func() {
					select {
					case <-ui.entered:
					default:
						t.Error("the host's Ui.Say callback was never entered")
					}
					close(ui.release)
				}
			},
			status: "exit status 3",
			tail:   []string{"exiting with status 3 in Builder.Run"},
		},
		{
			name:   "inside its own callback",
			config: map[string]any{"run": "exit-in-own-callback"},
			setup: func(t *testing.T, _ *plug, _ io.Writer) (shared.Build, shared.Ui, func()) {
				b := &hostBuild{entered: make(chan struct{})}
				return b, nil, func() {
					select {
					case <-b.entered:
					default:
						t.Error("the host's Build.Run callback was never entered")
					}
				}
			},
			status: "exit status 3",
			tail:   []string{"exiting with status 3 in Ui.Say callback"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdin, stdinW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = stdinW.Close() })
			p := newPlug(t, &host.Config{Stdin: stdin}, "serve")
			b, err := p.Builder()
			_ = stdin.Close() // the plugin has its own copy now
			if err != nil {
				t.Fatal(err)
			}
			_, inPrepare := tc.config["prepare"]
			if !inPrepare {
				if err := b.Prepare(tc.config); err != nil {
					t.Fatal(err)
				}
			}
			var build shared.Build
			var ui shared.Ui
			var after func()
			if tc.setup != nil {
				build, ui, after = tc.setup(t, p, stdinW)
			}
			// The plugin dies as soon as the call reaches it: the call must
			// end within 2 s.
			var callErr error
			within(t, 2*time.Second, "the call in flight", func() {
				if inPrepare {
					callErr = b.Prepare(tc.config)
				} else {
					callErr = b.Run(context.Background(), build, ui)
				}
			})
			if errors.Is(callErr, host.ErrProcessExited) && !p.Exited() {
				t.Errorf("call returned %v, but Exited() is false", callErr)
			}
			if after != nil {
				after()
			}
			wantExited(t, "the call in flight", callErr, tc.status, tc.tail...)

			// Every later call, on this Builder or a new one, fails the same
			// way at once.
			within(t, 2*time.Second, "later calls", func() {
				wantExited(t, "later Prepare", b.Prepare(nil), tc.status, tc.tail...)
				wantExited(t, "later Run", b.Run(context.Background(), nil, nil), tc.status, tc.tail...)
				_, err := p.Builder()
				wantExited(t, "later Builder()", err, tc.status, tc.tail...)
				_, err = p.Dispense("command")
				wantExited(t, "later Dispense", err, tc.status, tc.tail...)
			})
		})
	}
}

// A plugin that dies while idle: every later call fails with its status.
func TestPluginDiesWhileIdle(t *testing.T) {
	t.Parallel()
	t.Run("exits on its own", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve")
		b := preparedBuilder(t, p, map[string]any{"prepare": "exit-later"})
		p.log.waitFor(t, 10*time.Second, `"plugin exited"`, msgIs("plugin exited"))
		within(t, 2*time.Second, "a call after the plugin exited", func() {
			wantExited(t, "Run after exit", b.Run(context.Background(), nil, nil),
				"exit status 3", "exiting with status 3 in Builder.Prepare (later, while idle)")
		})
	})
	t.Run("killed by a signal", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve")
		cmd, err := p.Command()
		if err != nil {
			t.Fatal(err)
		}
		if err := killPid(p.pid(t)); err != nil {
			t.Fatal(err)
		}
		p.log.waitFor(t, 10*time.Second, `"plugin exited"`, msgIs("plugin exited"))
		rc := cmd
		within(t, 2*time.Second, "calls after the plugin was killed", func() {
			code, err := rc.RunErr(context.Background(), nil, []string{"ok"})
			if code != 1 {
				t.Errorf("RunErr returned code %d, want 1", code)
			}
			wantExited(t, "RunErr", err, killedStatus)
			s, err := rc.SynopsisErr()
			if s != "" {
				t.Errorf("SynopsisErr returned %q, want \"\"", s)
			}
			wantExited(t, "SynopsisErr", err, killedStatus)
		})
	})
}

// Every call in flight when the plugin dies returns: Builder.Run calls
// blocked in the plugin, a Command.Run, and calls made after.
func TestPluginDiesWithCallsInFlight(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	b, err := p.Builder()
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := p.Command()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Prepare(map[string]any{"run": "block"}); err != nil {
		t.Fatal(err)
	}
	const runs = 4
	var started sync.WaitGroup
	started.Add(runs)
	errs := make(chan error, runs)
	for range runs {
		go func() {
			var once sync.Once
			errs <- b.Run(context.Background(), nil, uiFunc(func(string) { once.Do(started.Done) }))
		}()
	}
	codes := make(chan int, 1)
	go func() { codes <- cmd.Run(context.Background(), nil, []string{"block"}) }()
	awaitAll(t, &started, 10*time.Second, "every Run blocked in the plugin")
	if err := killPid(p.pid(t)); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	deadline := time.After(testutil.Slack(2 * time.Second))
	for range runs {
		select {
		case err := <-errs:
			wantExited(t, "Builder.Run in flight", err, killedStatus)
		case <-deadline:
			t.Fatalf("a Builder.Run in flight did not return within 2 s of the plugin's death")
		}
	}
	select {
	case code := <-codes:
		if code != 1 {
			t.Errorf("Command.Run in flight returned %d, want 1", code)
		}
	case <-deadline:
		t.Fatal("Command.Run in flight did not return within 2 s of the plugin's death")
	}
	t.Logf("all calls returned %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	// Command.Run has no error result: it logged why it returned 1.
	e := p.log.waitFor(t, time.Second, "for the failed Command.Run", msgIs("Command.Run failed"))
	if e.level() != "error" || !strings.Contains(e.str("error"), killedStatus) {
		t.Errorf("Command.Run failure logged as %v, want level error and the exit status", e)
	}
	if s := cmd.Synopsis(); s != "" {
		t.Errorf("Synopsis after death returned %q, want \"\"", s)
	}
	p.log.waitFor(t, time.Second, "for the failed Command.Synopsis", msgIs("Command.Synopsis failed"))
}

// A command plugin that exits during Run or Synopsis: Run returns 1 and
// Synopsis "", each logs the error, and the host does not panic.
func TestCommandPluginDies(t *testing.T) {
	t.Parallel()
	t.Run("Run", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve")
		cmd, err := p.Command()
		if err != nil {
			t.Fatal(err)
		}
		var code int
		within(t, 5*time.Second, "Command.Run of a dying plugin", func() {
			code = cmd.Run(context.Background(), nil, []string{"exit"})
		})
		if code != 1 {
			t.Errorf("Run returned %d, want 1", code)
		}
		e := p.log.waitFor(t, time.Second, "for the failed Command.Run", msgIs("Command.Run failed"))
		if !strings.Contains(e.str("error"), "exit status 3") ||
			!strings.Contains(e.str("error"), "exiting with status 3 in Command.Run") {
			t.Errorf("logged error %q lacks the exit status or the stderr tail", e.str("error"))
		}
		if e.level() != "error" {
			t.Errorf("logged at %s, want error", e.level())
		}
	})
	t.Run("Synopsis", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve", envSynopsis+"=exit")
		cmd, err := p.Command()
		if err != nil {
			t.Fatal(err)
		}
		var s string
		within(t, 5*time.Second, "Command.Synopsis of a dying plugin", func() { s = cmd.Synopsis() })
		if s != "" {
			t.Errorf("Synopsis returned %q, want \"\"", s)
		}
		e := p.log.waitFor(t, time.Second, "for the failed Command.Synopsis", msgIs("Command.Synopsis failed"))
		if !strings.Contains(e.str("error"), "exit status 3") {
			t.Errorf("logged error %q lacks the exit status", e.str("error"))
		}
	})
}

// A panic in a plugin method: the call returns an error naming the panic,
// the panic message and stack reach the host's log, and the plugin keeps
// serving.
func TestPluginMethodPanics(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		env    []string
		call   func(b shared.Builder, c shared.RemoteCommand) error
	}{
		{"Builder.Prepare", nil, func(b shared.Builder, _ shared.RemoteCommand) error {
			return b.Prepare(map[string]any{"prepare": "panic"})
		}},
		{"Builder.Run", nil, func(b shared.Builder, _ shared.RemoteCommand) error {
			if err := b.Prepare(map[string]any{"run": "panic"}); err != nil {
				return nil
			}
			return b.Run(context.Background(), nil, nil)
		}},
		{"Command.Run", nil, func(_ shared.Builder, c shared.RemoteCommand) error {
			code, err := c.RunErr(context.Background(), nil, []string{"panic"})
			if code != 1 {
				return errors.New("RunErr returned a code other than 1")
			}
			return err
		}},
		{"Command.Synopsis", []string{envSynopsis + "=panic"}, func(_ shared.Builder, c shared.RemoteCommand) error {
			s, err := c.SynopsisErr()
			if s != "" {
				return errors.New("SynopsisErr returned a synopsis")
			}
			return err
		}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			p := newPlug(t, nil, "serve", tc.env...)
			b, err := p.Builder()
			if err != nil {
				t.Fatal(err)
			}
			c, err := p.Command()
			if err != nil {
				t.Fatal(err)
			}
			err = tc.call(b, c)
			want := "helper panic in " + tc.method
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("call returned %v, want an error containing %q", err, want)
			}
			if errors.Is(err, host.ErrProcessExited) {
				t.Errorf("error %v wraps ErrProcessExited; the plugin survives a panic in a method", err)
			}
			if !errors.Is(err, shared.ErrPanic) {
				t.Errorf("error %v does not wrap shared.ErrPanic", err)
			}
			e := p.log.waitFor(t, 5*time.Second, "for the panic", msgIs("panic in "+tc.method))
			if e.level() != "error" {
				t.Errorf("panic logged at %q, want error", e.level())
			}
			if e.str("panic") != want {
				t.Errorf("panic field %q, want %q", e.str("panic"), want)
			}
			if st := e.str("stack"); !strings.Contains(st, "goroutine ") || !strings.Contains(st, "host_test.act") {
				t.Errorf("stack field does not hold the plugin's stack: %q", st)
			}
			// The plugin still serves.
			if err := b.Prepare(map[string]any{}); err != nil {
				t.Errorf("Prepare after the panic: %v", err)
			}
			if p.Exited() {
				t.Error("the plugin exited after a panic in a method")
			}
		})
	}
}

// A plugin that dies after its client dispensed many objects, each with its
// own stream, still fails the calls in flight, and every later call, within
// 2 s, and Kill afterwards is quick.
func TestPluginDiesWithManyDispensed(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	bs := dispenseMany(t, p, manyDispensed)
	const runs = 4
	var started sync.WaitGroup
	started.Add(runs)
	errs := make(chan error, runs)
	for i := range runs {
		b := bs[len(bs)-1-i]
		if err := b.Prepare(map[string]any{"run": "block"}); err != nil {
			t.Fatal(err)
		}
		go func() {
			var once sync.Once
			errs <- b.Run(context.Background(), nil, uiFunc(func(string) { once.Do(started.Done) }))
		}()
	}
	awaitAll(t, &started, 10*time.Second, "every Run blocked in the plugin")
	if err := killPid(p.pid(t)); err != nil {
		t.Fatal(err)
	}
	within(t, 2*time.Second, "calls in flight and later calls after the plugin's death", func() {
		for range runs {
			wantExited(t, "Builder.Run in flight", <-errs, killedStatus)
		}
		for i, b := range bs {
			if err := b.Prepare(nil); !errors.Is(err, host.ErrProcessExited) {
				t.Fatalf("Prepare of builder %d after the plugin died: %v, want an error wrapping ErrProcessExited", i, err)
			}
		}
	})
	within(t, 100*time.Millisecond, "Kill of a dead plugin", p.Kill)
}
