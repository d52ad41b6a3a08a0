package plugwire_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-plugin"
	greeter "github.com/hashicorp/go-plugin/examples/basic/shared"
	kv "github.com/hashicorp/go-plugin/examples/grpc/shared"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

// testSet is the set the "set" test plugin serves: builders and commands
// under names and under the empty name, and go-plugin's own example types
// registered with Register. Each component says which process it runs in.
func testSet() *plugwire.Set {
	s := plugwire.NewSet()
	s.Version = "1.4.0-dev"
	s.RegisterBuilder("", &testBuilder{})
	s.RegisterBuilder("a", pidBuilder("a"))
	s.RegisterBuilder("b", pidBuilder("b"))
	s.RegisterCommand("", testCommand{})
	s.RegisterCommand("c", pidCommand("c"))
	s.Register("greeter", "hi", &greeter.GreeterPlugin{Impl: pidGreeter{}})
	s.Register("kv", "", &kv.KVPlugin{Impl: &memKV{m: map[string][]byte{}}})
	return s
}

// pidBuilder says its name and its process on Run.
type pidBuilder string

func (pidBuilder) Prepare(any) error { return nil }
func (b pidBuilder) Run(_ context.Context, _ shared.Build, ui shared.Ui) error {
	ui.Say("builder %s in pid %d", string(b), os.Getpid())
	return nil
}

// pidCommand's synopsis names it and its process.
type pidCommand string

func (c pidCommand) Synopsis() string {
	return fmt.Sprintf("command %s in pid %d", string(c), os.Getpid())
}
func (pidCommand) Run(context.Context, shared.Environment, []string) int {
	return 0
}

type pidGreeter struct{}

func (pidGreeter) Greet() string { return fmt.Sprintf("greeter hi in pid %d", os.Getpid()) }

// setPlugins is what a host needs to dispense every component of testSet.
func setPlugins() map[string]plugin.Plugin {
	return map[string]plugin.Plugin{
		shared.BuilderPluginName: &shared.BuilderPlugin{},
		shared.CommandPluginName: &shared.CommandPlugin{},
		"greeter":                &greeter.GreeterPlugin{},
		"kv":                     &kv.KVPlugin{},
	}
}

// bareEnv is the environment of a test plugin run as a person would run
// it: no plugwire variables.
func bareEnv(name string) []string {
	var env []string
	for _, kv := range pluginEnv(name) {
		if strings.HasPrefix(kv, "PLUGWIRE_") && !strings.HasPrefix(kv, envPlugin+"=") || strings.HasPrefix(kv, "PACKER_PLUGIN_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runByHand runs the test plugin name with args and no plugwire variables.
func runByHand(t *testing.T, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = bareEnv(name)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running %s %q: %v", name, args, err)
	}
	return out.String(), errb.String(), code
}

// BINARY describe prints one JSON object, names sorted, and exits 0, with
// no plugwire variable set; a set of one (builderplugin.Serve) too, and a
// plugwire.Serve map, which lists its keys that are components.
func TestSetDescribe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ plugin, want string }{
		{"set", `{"version":"1.4.0-dev","protocol":4,"components":{"builder":["","a","b"],"command":["","c"],"greeter":["hi"],"kv":[""]}}` + "\n"},
		{"builder", `{"version":"","protocol":4,"components":{"builder":[""]}}` + "\n"},
		{"command", `{"version":"","protocol":4,"components":{"command":[""]}}` + "\n"},
		{"foreign", `{"version":"","protocol":4,"components":{"greeter":[""],"kv":[""]}}` + "\n"},
		{"served", `{"version":"","protocol":4,"components":{"builder":[""],"command":["c"]}}` + "\n"},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runByHand(t, tc.plugin, "describe")
			if code != 0 || stdout != tc.want || stderr != "" {
				t.Errorf("describe: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, tc.want, stderr)
			}
		})
	}
}

// Run by hand, or with any argument but describe, a set prints one line
// that says it is a plugin and mentions describe, and exits 1.
func TestSetByHand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		plugin string
		args   []string
		want   []string
	}{
		{"no arguments", "set", nil, []string{"plugwire plugin", "not by hand", "describe"}},
		{"legacy builder", "builder", nil, []string{"plugwire plugin", "not by hand", "describe"}},
		{"unknown argument", "set", []string{"start"}, []string{`unexpected argument "start"`, "plugwire plugin", "describe"}},
		{"describe and more", "set", []string{"describe", "--json"}, []string{`unexpected argument "describe"`, "describe\""}},
		{"flag", "command", []string{"-h"}, []string{`unexpected argument "-h"`, "describe"}},
		{"empty set", "empty-set", nil, []string{"no components"}},
		{"empty set describe", "empty-set", []string{"describe"}, []string{"no components"}},
		{"bad version", "bad-version", nil, []string{`plugwire.Set: Version "one point four" is not a semantic version`}},
		{"bad version describe", "bad-version", []string{"describe"}, []string{`plugwire.Set: Version "one point four" is not a semantic version`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runByHand(t, tc.plugin, tc.args...)
			if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, one line on stderr", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
		})
	}
}

// A bad kind or name, a nil implementation or a name registered twice
// panics with a message naming it.
func TestSetPanics(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    func(s *plugwire.Set)
		want string
	}{
		{"empty kind", func(s *plugwire.Set) { s.Register("", "x", &shared.BuilderPlugin{}) }, `kind ""`},
		{"upper-case kind", func(s *plugwire.Set) { s.Register("Builder", "x", &shared.BuilderPlugin{}) }, `kind "Builder"`},
		{"kind with a slash", func(s *plugwire.Set) { s.Register("builder/x", "", &shared.BuilderPlugin{}) }, `kind "builder/x"`},
		{"kind with a digit first", func(s *plugwire.Set) { s.Register("1builder", "", &shared.BuilderPlugin{}) }, `kind "1builder"`},
		{"long kind", func(s *plugwire.Set) { s.Register(strings.Repeat("k", 65), "", &shared.BuilderPlugin{}) }, `kind "kkkk`},
		{"name with a slash", func(s *plugwire.Set) { s.RegisterBuilder("a/b", pidBuilder("x")) }, `name "a/b"`},
		{"name with a dash first", func(s *plugwire.Set) { s.RegisterBuilder("-a", pidBuilder("x")) }, `name "-a"`},
		{"name with a space", func(s *plugwire.Set) { s.RegisterCommand("a b", pidCommand("x")) }, `name "a b"`},
		{"name with a dot", func(s *plugwire.Set) { s.RegisterCommand("a.exe", pidCommand("x")) }, `name "a.exe"`},
		{"non-ASCII name", func(s *plugwire.Set) { s.RegisterCommand("é", pidCommand("x")) }, `name "é"`},
		{"nil builder", func(s *plugwire.Set) { s.RegisterBuilder("a", nil) }, `RegisterBuilder("a") was given a nil`},
		{"nil command", func(s *plugwire.Set) { s.RegisterCommand("", nil) }, `RegisterCommand("") was given a nil`},
		{"nil plugin", func(s *plugwire.Set) { s.Register("greeter", "g", nil) }, `Register("greeter", "g") was given a nil`},
		{"builder twice", func(s *plugwire.Set) {
			s.RegisterBuilder("a", pidBuilder("a"))
			s.RegisterBuilder("a", pidBuilder("a"))
		}, `builder "a" is registered twice`},
		{"empty name twice", func(s *plugwire.Set) {
			s.RegisterCommand("", pidCommand("a"))
			s.Register("command", "", &shared.CommandPlugin{})
		}, `command "" is registered twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "plugwire: Set.") {
					t.Errorf("panic %#v, want a message naming %q", r, tc.want)
				}
			}()
			tc.f(plugwire.NewSet())
		})
	}
	// The zero Set is ready to use.
	var zero plugwire.Set
	zero.RegisterBuilder("a", pidBuilder("a"))
	var out strings.Builder
	if err := zero.Describe(&out); err != nil || !strings.Contains(out.String(), `"components":{"builder":["a"]}`) {
		t.Errorf("zero Set: Describe = %q, %v", out.String(), err)
	}
	// A Version that does not parse is Describe's error, naming it, and
	// nothing is written.
	bad := plugwire.Set{Version: "latest"}
	bad.RegisterBuilder("a", pidBuilder("a"))
	out.Reset()
	if err := bad.Describe(&out); err == nil || !strings.Contains(err.Error(), `Version "latest" is not a semantic version`) || out.Len() != 0 {
		t.Errorf("Version latest: Describe wrote %q, returned %v; want an error naming it and nothing written", out.String(), err)
	}
	// The same name under two kinds is two components.
	s := plugwire.NewSet()
	s.RegisterBuilder("x", pidBuilder("x"))
	s.RegisterCommand("x", pidCommand("x"))
	s.Register("post-processor", "x", &shared.BuilderPlugin{Impl: pidBuilder("x")})
}

// set dispenses every component of the set from c and returns what each
// said about its process, by dispense name.
func dispenseAll(t *testing.T, client func(name string) dispenser) map[string]string {
	t.Helper()
	said := map[string]string{}
	for _, name := range []string{"builder/a", "builder/b", "command/c", "greeter/hi"} {
		raw, err := client(name).Dispense(name)
		if err != nil {
			t.Fatalf("Dispense(%q): %v", name, err)
		}
		switch v := raw.(type) {
		case shared.Builder:
			ui := &recUi{}
			if err := v.Run(context.Background(), nil, ui); err != nil {
				t.Fatalf("%s: Run: %v", name, err)
			}
			said[name] = strings.TrimPrefix(strings.Join(ui.lines_(), "|"), "say: ")
		case shared.Command:
			said[name] = v.Synopsis()
		case greeter.Greeter:
			said[name] = v.Greet()
		default:
			t.Fatalf("Dispense(%q) = %T", name, raw)
		}
	}
	for _, name := range []string{"builder", "command", "kv"} {
		raw, err := client(name).Dispense(name)
		if err != nil {
			t.Fatalf("Dispense(%q): %v", name, err)
		}
		switch v := raw.(type) {
		case shared.Builder:
			if err := v.Prepare(map[string]any{"mode": "nil-args"}); err != nil {
				t.Fatal(err)
			}
			if err := v.Run(context.Background(), nil, nil); err != nil {
				t.Fatalf("builder: %v", err)
			}
		case shared.Command:
			if got := v.Synopsis(); got != "the e2e test command" {
				t.Errorf("command: Synopsis = %q", got)
			}
		case kv.KV:
			if err := v.Put("k", []byte("v")); err != nil {
				t.Fatalf("kv: %v", err)
			}
		}
	}
	return said
}

type dispenser interface {
	Dispense(string) (any, error)
}

func pidOf(t *testing.T, said string) string {
	t.Helper()
	_, pid, ok := strings.Cut(said, " in pid ")
	if !ok {
		t.Fatalf("%q names no pid", said)
	}
	return pid
}

// Every component of a set is dispensed through one process, or each
// through its own, as the host chooses.
func TestSetDispense(t *testing.T) {
	t.Parallel()
	t.Run("one process", func(t *testing.T) {
		t.Parallel()
		c := start(t, "set", setPlugins())
		said := dispenseAll(t, func(string) dispenser { return c })
		pids := map[string]bool{}
		for name, s := range said {
			if !strings.HasPrefix(s, strings.ReplaceAll(name, "/", " ")+" in pid ") {
				t.Errorf("%s said %q", name, s)
			}
			pids[pidOf(t, s)] = true
		}
		if len(pids) != 1 {
			t.Errorf("components ran in processes %v, want one", pids)
		}
	})
	t.Run("a process each", func(t *testing.T) {
		t.Parallel()
		said := dispenseAll(t, func(string) dispenser { return start(t, "set", setPlugins()) })
		pids := map[string]bool{}
		for _, s := range said {
			pids[pidOf(t, s)] = true
		}
		if len(pids) != len(said) {
			t.Errorf("%d components ran in processes %v, want one each", len(said), pids)
		}
	})
}

// The default Config.Plugins dispenses any builder/NAME and command/NAME;
// a component the set lacks is the plugin's error, a kind the host lacks
// the host's, naming it.
func TestSetDefaultPlugins(t *testing.T) {
	t.Parallel()
	c := start(t, "set", nil)
	raw, err := c.Dispense("builder/b")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.(shared.Builder); !ok {
		t.Fatalf("builder/b is a %T", raw)
	}
	raw, err = c.Dispense("command/c")
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.(shared.Command).Synopsis(); !strings.HasPrefix(got, "command c in pid ") {
		t.Errorf("command/c: Synopsis = %q", got)
	}
	if _, err := c.Dispense("builder/zzz"); err == nil || !strings.Contains(err.Error(), "builder/zzz") {
		t.Errorf("Dispense(builder/zzz) = %v, want the plugin's error naming it", err)
	}
	for _, name := range []string{"greeter/hi", "builder/", "builder/a/b", "Builder/a", "/a"} {
		if _, err := c.Dispense(name); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("Dispense(%q) = %v, want an error naming it", name, err)
		}
	}
	// The host's error lists the plugin types it was given, not the
	// components dispensed so far.
	if _, err := c.Dispense("greeter/hi"); err == nil || !strings.Contains(err.Error(), "(it has builder, command;") {
		t.Errorf("Dispense(greeter/hi) after builder/b and command/c = %v, want it to list builder and command alone", err)
	}
}

// Many goroutines dispensing components a client's default Config.Plugins
// does not name, at once: the host adds them to the map go-plugin reads
// while other dispenses run (checked by -race), and each gets its own.
func TestSetDispenseConcurrent(t *testing.T) {
	t.Parallel()
	c := start(t, "set", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Go(func() { // components the set has
			for range 10 {
				for _, name := range []string{"builder/a", "builder/b", "command/c", "builder", "command"} {
					raw, err := c.Dispense(name)
					if err != nil {
						errs <- fmt.Errorf("Dispense(%q): %v", name, err)
						return
					}
					if b, ok := raw.(shared.Builder); ok && name != "builder" {
						ui := &recUi{}
						if err := b.Run(context.Background(), nil, ui); err != nil {
							errs <- fmt.Errorf("%s: Run: %v", name, err)
						} else if got := strings.Join(ui.lines_(), ""); !strings.HasPrefix(got, "say: "+strings.ReplaceAll(name, "/", " ")+" in pid ") {
							errs <- fmt.Errorf("%s said %q", name, got)
						}
					}
				}
			}
		})
		wg.Go(func() { // names new to the host, which the set lacks
			for i := range 25 {
				name := fmt.Sprintf("builder/x%d_%d", g, i)
				if _, err := c.Dispense(name); err == nil || !strings.Contains(err.Error(), name) {
					errs <- fmt.Errorf("Dispense(%q) = %v, want the plugin's error naming it", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
