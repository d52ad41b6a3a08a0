package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// hostEnv is the Environment a host gives a command plugin.
type hostEnv struct{ ui shared.Ui }

func (e hostEnv) Builder(name string) (shared.Builder, error) {
	return nil, errors.New("no builder " + name)
}
func (e hostEnv) Cli(context.Context, []string) (int, error) { return 0, nil }
func (e hostEnv) Ui() shared.Ui                              { return e.ui }

// After Kill, whatever happened before, no goroutine of the client is left,
// the process is reaped (no zombie), and nothing reached the host's own
// stderr. These tests do not run in parallel with others: goleak looks at
// every goroutine of the process, and stderr is the process's.
func TestLifecycleLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		behaviour string
		env       []string
		cfg       host.Config
		// use drives the client before Kill; it returns the plugin's pid.
		use func(t *testing.T, p *plug) int
		// after runs after the checks, to clean up what the plugin left.
		after func(t *testing.T, p *plug)
	}{
		{
			name:      "clean start, calls and Kill",
			behaviour: "serve",
			use: func(t *testing.T, p *plug) int {
				b := preparedBuilder(t, p, map[string]any{"run": "say", "x": []any{}})
				var said []string
				if err := b.Run(context.Background(), nil, uiFunc(func(s string) { said = append(said, s) })); err != nil {
					t.Fatal(err)
				}
				if len(said) != 1 {
					t.Errorf("Run said %q", said)
				}
				c, err := p.Command()
				if err != nil {
					t.Fatal(err)
				}
				if code := c.Run(context.Background(), hostEnv{ui: uiFunc(func(string) {})}, []string{"ok"}); code != 0 {
					t.Errorf("Command.Run returned %d", code)
				}
				if s := c.Synopsis(); s != "a test command" {
					t.Errorf("Synopsis returned %q", s)
				}
				return p.pid(t)
			},
		},
		{
			name:      "plugin died during a call",
			behaviour: "serve",
			use: func(t *testing.T, p *plug) int {
				b, err := p.Builder()
				if err != nil {
					t.Fatal(err)
				}
				_ = b.Prepare(map[string]any{"run": "exit"})
				wantExited(t, "Run", b.Run(context.Background(), nil, nil), "exit status 3")
				return p.pid(t)
			},
		},
		{
			name:      "stubborn plugin killed with a call in flight",
			behaviour: "serve",
			env:       []string{envStubborn + "=1"},
			cfg:       host.Config{KillGrace: 300 * time.Millisecond},
			use: func(t *testing.T, p *plug) int {
				b := preparedBuilder(t, p, map[string]any{"run": "ignorectx"})
				in := make(chan struct{})
				go func() {
					_ = b.Run(context.Background(), nil, uiFunc(func(string) { close(in) }))
				}()
				await(t, in, 10*time.Second, "Run reaching the plugin")
				return p.pid(t)
			},
		},
		{
			name:      "killed while starting",
			behaviour: "silent",
			use: func(t *testing.T, p *plug) int {
				go func() { _, _ = p.Builder() }()
				return p.pid(t)
			},
		},
		{
			name:      "start timeout",
			behaviour: "silent",
			cfg:       host.Config{StartTimeout: 300 * time.Millisecond},
			use: func(t *testing.T, p *plug) int {
				if _, err := p.Builder(); !errors.Is(err, host.ErrStartTimeout) {
					t.Errorf("Builder(): %v", err)
				}
				return p.startedPid(t)
			},
		},
		{
			name:      "bad address line",
			behaviour: "line",
			env:       []string{envLine + `="no address here\n"`},
			use: func(t *testing.T, p *plug) int {
				if _, err := p.Builder(); err == nil {
					t.Error("Builder() succeeded")
				}
				return p.pid(t)
			},
		},
		{
			name:      "grandchild holds stdout and stderr open",
			behaviour: "spawn",
			cfg:       host.Config{KillGrace: 500 * time.Millisecond},
			use:       startAndPrepare,
			after:     killGrandchild,
		},
		{
			name:      "stubborn plugin whose grandchild holds stdout and stderr open",
			behaviour: "spawn",
			env:       []string{envStubborn + "=1"},
			cfg:       host.Config{KillGrace: 300 * time.Millisecond},
			use:       startAndPrepare,
			after:     killGrandchild,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			stderr := captureStderr(t)
			cfg := tc.cfg
			p := newPlug(t, &cfg, tc.behaviour, tc.env...)
			pid := tc.use(t, p)
			grace := cfg.KillGrace
			if grace == 0 {
				grace = time.Second // newPlug's default
			}
			within(t, grace+time.Second, "Kill", p.Kill)
			if !p.Exited() {
				t.Error("Exited() is false after Kill")
			}
			assertReaped(t, pid)
			if out := stderr(); out != "" {
				t.Errorf("the host's own stderr got %q", out)
			}
			goleak.VerifyNone(t, ignore)
			if tc.after != nil {
				tc.after(t, p)
			}
			if t.Failed() {
				t.Logf("client log:\n%s", p.log.dump())
			}
		})
	}
}

// A host with the default Logger (Info, on stderr) writes nothing to its
// stderr for a clean start, calls and Kill of a plugin that logs nothing
// at Info.
func TestDefaultLoggerQuietOnCleanRun(t *testing.T) {
	stderr := captureStderr(t)
	cmd := helperCmd("bare")
	c := host.NewClient(&host.Config{Cmd: cmd})
	defer c.Kill()
	b := preparedBuilder(t, c, map[string]any{"run": "say"})
	if err := b.Run(context.Background(), nil, uiFunc(func(string) {})); err != nil {
		t.Fatal(err)
	}
	c.Kill()
	if out := stderr(); strings.TrimSpace(out) != "" {
		t.Errorf("the host's stderr got %q", out)
	}
}

func startAndPrepare(t *testing.T, p *plug) int {
	preparedBuilder(t, p, nil)
	return p.pid(t)
}

// killGrandchild kills the grandchild a "spawn" plugin left behind.
func killGrandchild(t *testing.T, p *plug) {
	e := p.log.waitFor(t, time.Second, "with the grandchild's pid", msgIs("grandchild started"))
	gc := int(e["grandchild"].(float64))
	_ = killPid(gc)
	if !waitGone(gc, testutil.Slack(2*time.Second)) {
		t.Errorf("grandchild %d still running", gc)
	}
}

// The default Logger is at Info on the host's stderr: a plugin's Info and
// above entries reach it, under the plugin's name; Trace and Debug do not.
func TestDefaultLoggerAtInfo(t *testing.T) {
	stderr := captureStderr(t)
	c := host.NewClient(&host.Config{Cmd: helperCmd("serve")})
	defer c.Kill()
	b := preparedBuilder(t, c, map[string]any{"run": "log"})
	if err := b.Run(context.Background(), nil, uiFunc(func(string) {})); err != nil {
		t.Fatal(err)
	}
	c.Kill() // the plugin's output is all read once it is reaped
	out := stderr()
	for _, want := range []string{"info entry", "warn entry", "error entry", "a plain warning", "stdout after the address", testExeName} {
		if !strings.Contains(out, want) {
			t.Errorf("the host's stderr lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"trace entry", "debug entry", "a plain line", "plugin started"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("the host's stderr has %q, logged below Info:\n%s", unwanted, out)
		}
	}
	// One level per line, and a stack's tabs as spaces, not "\t".
	for _, unwanted := range []string{": [WARN]", ": [INFO]", ": [ERROR]", `\t`} {
		if strings.Contains(out, unwanted) {
			t.Errorf("the host's stderr has %q:\n%s", unwanted, out)
		}
	}
	if !strings.Contains(out, "acme-vm: an hclog text line") || !strings.Contains(out, "|     /src/f.go:12") {
		t.Errorf("the host's stderr lacks the plugin's hclog text line or its stack's line:\n%s", out)
	}
}
