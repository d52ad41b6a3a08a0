package plugwire_test

// End-to-end tests: the test binary re-executes itself as real plugin
// processes (TestMain dispatches on envPlugin) and the host package drives
// them over real loopback TCP.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	greeter "github.com/hashicorp/go-plugin/examples/basic/shared"
	kv "github.com/hashicorp/go-plugin/examples/grpc/shared"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/builderplugin"
	"github.com/plugwire/plugwire/commandplugin"
	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// envPlugin names the plugin a re-executed test binary serves.
const envPlugin = "PLUGWIRE_E2E_PLUGIN"

// initialSecret is the secret a test plugin was started with, before
// Serve unset it.
var initialSecret = os.Getenv(wire.EnvSecret)

func TestMain(m *testing.M) {
	switch os.Getenv(envPlugin) {
	case "":
		testutil.RefuseArguments()
		os.Exit(m.Run())
	case "builder":
		builderplugin.Serve(&testBuilder{})
	case "command":
		commandplugin.Serve(testCommand{})
	case "fake-version":
		fakeVersionPlugin()
	case "impostor":
		impostorPlugin()
	case "mute":
		mutePlugin()
	case "dying":
		dyingPlugin()
	case "set":
		testSet().Run()
	case "empty-set":
		plugwire.NewSet().Run()
	case "bad-version":
		s := testSet()
		s.Version = "one point four"
		s.Run()
	case "served":
		// Serve's map: a kind, a KIND/NAME, and a go-plugin name that is
		// no component.
		plugwire.Serve(map[string]plugin.Plugin{
			"builder":   &shared.BuilderPlugin{Impl: &testBuilder{}},
			"command/c": &shared.CommandPlugin{Impl: pidCommand("c")},
			"Greeter":   &greeter.GreeterPlugin{Impl: hello{}},
		})
	case "comm":
		s := plugwire.NewSet()
		s.Register("communicator", "mem", contracts.Communicators.Plugin(&memComm{files: map[string][]byte{}}))
		s.Run()
	case "foreign":
		plugwire.Serve(map[string]plugin.Plugin{
			"greeter": &greeter.GreeterPlugin{Impl: hello{}},
			"kv":      &kv.KVPlugin{Impl: &memKV{m: map[string][]byte{}}},
		})
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", envPlugin, os.Getenv(envPlugin))
		os.Exit(2)
	}
	os.Exit(0)
}

// ---- plugin side ----

// testBuilder keeps its config and runs as the config's "mode" says.
type testBuilder struct {
	mu     sync.Mutex
	config any
}

func (b *testBuilder) Prepare(config any) error {
	b.mu.Lock()
	b.config = config
	b.mu.Unlock()
	if m, ok := config.(map[string]any); ok {
		if msg, ok := m["fail"].(string); ok {
			return errors.New(msg)
		}
	}
	return nil
}

func (b *testBuilder) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	b.mu.Lock()
	config := b.config
	b.mu.Unlock()
	mode, _ := config.(map[string]any)["mode"].(string)
	switch mode {
	case "config": // report the config exactly as it arrived
		ui.Say("%#v", config)
		return nil
	case "numbers": // report the types and values of the numbers, decoded both ways
		return sayNumbers(config, ui)
	case "nil-args": // report what arrived for nil Build and Ui
		if ui != nil || build != nil {
			return fmt.Errorf("got build=%v ui=%v, want both nil", build, ui)
		}
		return nil
	case "wait": // run until cancelled
		ui.Say("running")
		<-ctx.Done()
		return ctx.Err()
	case "callback-wait": // the host's Build.Run waits for its ctx
		ui.Say("running")
		return build.Run(ctx, ui)
	case "self-stop": // stop this process, as a breakpoint in Run would
		// Until the test says it resumed us (the file "go" names exists):
		// a SIGCONT from elsewhere must not end the pause early.
		resume, _ := config.(map[string]any)["go"].(string)
		ui.Say("stopping")
		for {
			if err := stopSelf(); err != nil {
				return err
			}
			if _, err := os.Stat(resume); err == nil {
				break
			}
			fmt.Fprintln(os.Stderr, "continued before the test resumed it; stopping again")
		}
		ui.Say("resumed")
		return nil
	case "says": // many callbacks, numbered
		n := int(config.(map[string]any)["n"].(float64))
		for i := 0; i < n; i++ {
			ui.Say("say %d", i)
		}
		return nil
	}
	ui.Say("100%% %s %v", "done", []int{1, 2})
	ui.Error("an error line with a %s verb", "%d")
	if err := build.Prepare(); err != nil {
		return fmt.Errorf("build.Prepare: %w", err)
	}
	return build.Run(ctx, ui)
}

// testCommand runs as its first argument says.
type testCommand struct{}

func (testCommand) Synopsis() string { return "the e2e test command" }

func (testCommand) Run(ctx context.Context, env shared.Environment, args []string) int {
	if len(args) == 0 {
		env.Ui().Say("no args: %#v", args)
		return 0
	}
	switch args[0] {
	case "echo":
		env.Ui().Say("%s", strings.Join(args[1:], " "))
		return 0
	case "env":
		v, ok := os.LookupEnv(args[1])
		env.Ui().Say("%s=%q set=%v", args[1], v, ok)
		return 0
	case "initial-secret":
		env.Ui().Say("%s", initialSecret)
		return 0
	case "code":
		n, _ := strconv.Atoi(args[1])
		return n
	case "wait":
		env.Ui().Say("running")
		<-ctx.Done()
		return 7
	case "cli":
		code, err := env.Cli(ctx, args[1:])
		env.Ui().Say("cli: code=%d err=%v canceled=%v", code, err, errors.Is(err, context.Canceled))
		return code
	case "builder-missing":
		_, err := env.Builder("missing")
		env.Ui().Error("%v", err)
		return 3
	case "chain":
		b, err := env.Builder("test")
		if err != nil {
			env.Ui().Error("env.Builder: %v", err)
			return 1
		}
		if err := b.Prepare(map[string]any{"mode": "default"}); err != nil {
			env.Ui().Error("Prepare: %v", err)
			return 1
		}
		if err := b.Run(ctx, &commandBuild{}, env.Ui()); err != nil {
			env.Ui().Error("Run: %v", err)
			return 1
		}
		return 0
	}
	env.Ui().Error("unknown test command %q", args[0])
	return 2
}

// commandBuild is a Build owned by the command plugin and called by a
// builder in another process, through the host.
type commandBuild struct{}

func (*commandBuild) Prepare() error { return nil }
func (*commandBuild) Run(_ context.Context, ui shared.Ui) error {
	ui.Say("command's build ran")
	return nil
}

type hello struct{}

func (hello) Greet() string { return "Hello from a go-plugin example type" }

type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *memKV) Put(key string, value []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key == "" {
		return errors.New("empty key")
	}
	k.m[key] = value
	return nil
}

func (k *memKV) Get(key string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[key], nil
}

// ---- host side ----

// start returns a client for the named test plugin, killed at cleanup.
func start(t testing.TB, name string, plugins map[string]plugin.Plugin) *host.Client {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = pluginEnv(name)
	c := host.NewClient(&host.Config{
		Cmd:     cmd,
		Plugins: plugins,
		Logger:  hclog.New(&hclog.LoggerOptions{Name: "e2e", Level: hclog.Warn, Output: testWriter{t}}),
	})
	t.Cleanup(c.Kill)
	return c
}

// pluginEnv is the environment of a test plugin process. Under -race a
// process sleeps a second at exit to catch late races; plugins don't.
func pluginEnv(name string) []string {
	return append(os.Environ(), envPlugin+"="+name, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

func startBuilder(t testing.TB) shared.Builder {
	t.Helper()
	b, err := start(t, "builder", nil).Builder()
	if err != nil {
		t.Fatalf("Builder: %v", err)
	}
	return b
}

func startCommand(t testing.TB) shared.Command {
	t.Helper()
	c, err := start(t, "command", nil).Command()
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	return c
}

// testWriter sends log output to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// recUi records what it is told and signals each line on lines, if set.
type recUi struct {
	mu    sync.Mutex
	got   []string
	lines chan string
}

func (u *recUi) Say(format string, a ...any) { u.add("say: " + fmt.Sprintf(format, a...)) }
func (u *recUi) Error(format string, a ...any) {
	u.add("error: " + fmt.Sprintf(format, a...))
}

func (u *recUi) add(s string) {
	u.mu.Lock()
	u.got = append(u.got, s)
	u.mu.Unlock()
	if u.lines != nil {
		u.lines <- s
	}
}

func (u *recUi) lines_() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

// recBuild is a host-side Build.
type recBuild struct {
	prepareErr error
	waitCtx    bool // Run waits for its ctx
	ran        chan error
}

func (b *recBuild) Prepare() error { return b.prepareErr }
func (b *recBuild) Run(ctx context.Context, ui shared.Ui) error {
	ui.Say("host build ran")
	if !b.waitCtx {
		return nil
	}
	<-ctx.Done()
	if b.ran != nil {
		b.ran <- ctx.Err()
	}
	return ctx.Err()
}

// env is the host's Environment: builders are test builder processes.
type env struct {
	t  testing.TB
	ui *recUi
}

func (e *env) Builder(name string) (shared.Builder, error) {
	if name != "test" {
		return nil, fmt.Errorf("no builder named %q", name)
	}
	return startBuilder(e.t), nil
}

func (e *env) Cli(ctx context.Context, args []string) (int, error) {
	if len(args) > 0 && args[0] == "wait" {
		<-ctx.Done()
		return 5, ctx.Err()
	}
	return len(args), nil
}

func (e *env) Ui() shared.Ui { return e.ui }

func TestBuilderRunWithCallbacks(t *testing.T) {
	t.Parallel()
	b := startBuilder(t)
	if err := b.Prepare(map[string]any{"mode": "default"}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	ui := &recUi{}
	if err := b.Run(context.Background(), &recBuild{}, ui); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"say: 100% done [1 2]",
		"error: an error line with a %d verb",
		"say: host build ran",
	}
	if got := ui.lines_(); !reflect.DeepEqual(got, want) {
		t.Errorf("Ui got %q, want %q", got, want)
	}
}

func TestErrorsCrossWithTheirText(t *testing.T) {
	t.Parallel()
	b := startBuilder(t)
	for _, msg := range []string{"bad config: 100% wrong", ""} {
		err := b.Prepare(map[string]any{"fail": msg})
		if err == nil || err.Error() != msg {
			t.Errorf("Prepare error = %v, want an error with text %q", err, msg)
		}
	}
	// An error from a host callback reaches the plugin, which returns it.
	if err := b.Prepare(map[string]any{"mode": "default"}); err != nil {
		t.Fatal(err)
	}
	err := b.Run(context.Background(), &recBuild{prepareErr: errors.New("host says no")}, &recUi{})
	if err == nil || err.Error() != "build.Prepare: host says no" {
		t.Errorf("Run error = %v, want %q", err, "build.Prepare: host says no")
	}
}

func TestNilCallbackArgumentsArriveNil(t *testing.T) {
	t.Parallel()
	b := startBuilder(t)
	if err := b.Prepare(map[string]any{"mode": "nil-args"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background(), nil, nil); err != nil {
		t.Fatalf("Run(nil, nil): %v", err)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	t.Parallel()
	b := startBuilder(t)
	cases := map[string]string{
		"packer template": `{"mode":"config","builders":[{"type":"amazon-ebs","ami_name":"web {{timestamp}}","launch_block_device_mappings":[{"device_name":"/dev/sda1","volume_size":40,"delete_on_termination":true}],"tags":{},"ssh_interface":null,"run_tags":{"Name":"Ünïcødé ✓ 日本 \u0000 \"q\""}}],"provisioners":[],"ratio":0.1,"big":1e300,"neg":-0.5,"int":12345678901234}`,
		"deep nesting":    `{"mode":"config","a":[[[[{"b":[[{}],[],null,[[]]]}]]]]}`,
		"empty":           `{"mode":"config","o":{},"a":[],"n":null,"s":"","f":0,"t":true,"x":false}`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			var config any
			if err := json.Unmarshal([]byte(doc), &config); err != nil {
				t.Fatal(err)
			}
			if err := b.Prepare(config); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			ui := &recUi{}
			if err := b.Run(context.Background(), nil, ui); err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := []string{"say: " + fmt.Sprintf("%#v", config)}
			if got := ui.lines_(); !reflect.DeepEqual(got, want) {
				t.Errorf("config arrived as\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestConfigTopLevelArrayAndScalars(t *testing.T) {
	t.Parallel()
	// Top-level non-objects cross too: the builder's Prepare gets them; the
	// test builder fails Prepare only for objects with "fail", so success
	// is the check, and a nested array is echoed back through a wrapper.
	b := startBuilder(t)
	for _, doc := range []string{`[1,"two",[],{},null]`, `"just a string"`, `3.25`, `true`, `null`, `[]`, `{}`} {
		var config any
		if err := json.Unmarshal([]byte(doc), &config); err != nil {
			t.Fatal(err)
		}
		if err := b.Prepare(config); err != nil {
			t.Errorf("Prepare(%s): %v", doc, err)
		}
		wrapped := map[string]any{"mode": "config", "v": config}
		if err := b.Prepare(wrapped); err != nil {
			t.Fatal(err)
		}
		ui := &recUi{}
		if err := b.Run(context.Background(), nil, ui); err != nil {
			t.Fatal(err)
		}
		if got, want := ui.lines_(), []string{"say: " + fmt.Sprintf("%#v", wrapped)}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s arrived as %q, want %q", doc, got, want)
		}
	}
}

func TestConfigThatIsNotJSON(t *testing.T) {
	t.Parallel()
	b := startBuilder(t)
	err := b.Prepare(map[string]any{"f": func() {}})
	if !errors.Is(err, shared.ErrConfigNotJSON) || !strings.Contains(err.Error(), "map[string]interface {}") {
		t.Errorf("Prepare(func) = %v, want ErrConfigNotJSON naming the type", err)
	}
}

func TestCommand(t *testing.T) {
	t.Parallel()
	cmd := startCommand(t)
	if got := cmd.Synopsis(); got != "the e2e test command" {
		t.Errorf("Synopsis = %q", got)
	}
	tests := []struct {
		args     []string
		wantCode int
		wantUi   []string
	}{
		{[]string{"echo", "hello", "100%", "wörld"}, 0, []string{"say: hello 100% wörld"}},
		{[]string{"code", "42"}, 42, nil},
		{nil, 0, []string{"say: no args: []string(nil)"}},
		{[]string{}, 0, []string{"say: no args: []string{}"}},
		{[]string{"cli", "a", "b", "c"}, 3, []string{"say: cli: code=3 err=<nil> canceled=false"}},
		{[]string{"builder-missing"}, 3, []string{`error: no builder named "missing"`}},
	}
	for _, tt := range tests {
		ui := &recUi{}
		code := cmd.Run(context.Background(), &env{t: t, ui: ui}, tt.args)
		if code != tt.wantCode || !reflect.DeepEqual(ui.lines_(), tt.wantUi) {
			t.Errorf("Run(%q) = %d, Ui %q; want %d, %q", tt.args, code, ui.lines_(), tt.wantCode, tt.wantUi)
		}
	}
}

// TestChain: a command plugin gets a builder that lives in another plugin
// process from the host, prepares and runs it with a Build of its own; the
// builder calls that Build back, and its Ui output reaches the host.
func TestChain(t *testing.T) {
	t.Parallel()
	cmd := startCommand(t)
	ui := &recUi{}
	if code := cmd.Run(context.Background(), &env{t: t, ui: ui}, []string{"chain"}); code != 0 {
		t.Fatalf("chain exited %d; Ui: %q", code, ui.lines_())
	}
	want := []string{
		"say: 100% done [1 2]",
		"error: an error line with a %d verb",
		"say: command's build ran",
	}
	if got := ui.lines_(); !reflect.DeepEqual(got, want) {
		t.Errorf("Ui got %q, want %q", got, want)
	}
}

// waitLine waits for the Ui to say want.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case got := <-lines:
		if got != want {
			t.Fatalf("Ui said %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Ui never said %q", want)
	}
}

func TestCancellation(t *testing.T) {
	t.Parallel()
	t.Run("Builder.Run", func(t *testing.T) {
		t.Parallel()
		b := startBuilder(t)
		if err := b.Prepare(map[string]any{"mode": "wait"}); err != nil {
			t.Fatal(err)
		}
		ui := &recUi{lines: make(chan string, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- b.Run(ctx, nil, ui) }()
		waitLine(t, ui.lines, "say: running")
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
	})
	t.Run("through the Build.Run callback", func(t *testing.T) {
		t.Parallel()
		b := startBuilder(t)
		if err := b.Prepare(map[string]any{"mode": "callback-wait"}); err != nil {
			t.Fatal(err)
		}
		ui := &recUi{lines: make(chan string, 2)}
		build := &recBuild{waitCtx: true, ran: make(chan error, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- b.Run(ctx, build, ui) }()
		waitLine(t, ui.lines, "say: running")
		waitLine(t, ui.lines, "say: host build ran")
		cancel()
		if err := <-build.ran; !errors.Is(err, context.Canceled) {
			t.Errorf("host Build.Run ctx ended with %v, want context.Canceled", err)
		}
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
	})
	t.Run("Command.Run", func(t *testing.T) {
		t.Parallel()
		cmd := startCommand(t)
		ui := &recUi{lines: make(chan string, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		codec := make(chan int, 1)
		go func() { codec <- cmd.Run(ctx, &env{t: t, ui: ui}, []string{"wait"}) }()
		waitLine(t, ui.lines, "say: running")
		cancel()
		if code := <-codec; code != 7 {
			t.Errorf("Run after cancel = %d, want the command's own 7", code)
		}
	})
	t.Run("Environment.Cli", func(t *testing.T) {
		t.Parallel()
		// The command calls the host's Cli, which waits; cancelling the
		// command's ctx cancels the Cli call's ctx on the host.
		cmd := startCommand(t)
		ui := &recUi{lines: make(chan string, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		codec := make(chan int, 1)
		go func() { codec <- cmd.Run(ctx, &env{t: t, ui: ui}, []string{"cli", "wait"}) }()
		cancel()
		if code := <-codec; code != 5 {
			t.Errorf("Run = %d, want 5 from the host's Cli", code)
		}
		want := []string{"say: cli: code=5 err=context canceled canceled=true"}
		if got := ui.lines_(); !reflect.DeepEqual(got, want) {
			t.Errorf("Ui got %q, want %q", got, want)
		}
	})
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	cmd := startCommand(t)
	b := startBuilder(t)
	if err := b.Prepare(map[string]any{"mode": "says", "n": 50}); err != nil {
		t.Fatal(err)
	}
	const goroutines, calls = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				want := g*1000 + i
				if code := cmd.Run(context.Background(), &env{t: t, ui: &recUi{}}, []string{"code", strconv.Itoa(want)}); code != want {
					errs <- fmt.Errorf("goroutine %d call %d: code %d, want %d", g, i, code, want)
				}
				ui := &recUi{}
				if err := b.Run(context.Background(), nil, ui); err != nil {
					errs <- err
					continue
				}
				got := ui.lines_()
				for j := 0; j < 50; j++ {
					if j >= len(got) || got[j] != fmt.Sprintf("say: say %d", j) {
						errs <- fmt.Errorf("goroutine %d call %d: Ui lines %q out of order or missing", g, i, got)
						break
					}
				}
				if len(got) != 50 {
					errs <- fmt.Errorf("goroutine %d call %d: %d Ui lines, want 50", g, i, len(got))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestForeignPluginTypes: go-plugin's own example plugin types cross the
// plugwire transport unchanged.
func TestForeignPluginTypes(t *testing.T) {
	t.Parallel()
	c := start(t, "foreign", map[string]plugin.Plugin{
		"greeter": &greeter.GreeterPlugin{},
		"kv":      &kv.KVPlugin{},
	})
	raw, err := c.Dispense("greeter")
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.(greeter.Greeter).Greet(); got != "Hello from a go-plugin example type" {
		t.Errorf("Greet = %q", got)
	}
	raw, err = c.Dispense("kv")
	if err != nil {
		t.Fatal(err)
	}
	store := raw.(kv.KV)
	if err := store.Put("k", []byte("v\x00")); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Get("k"); err != nil || string(got) != "v\x00" {
		t.Errorf("Get = %q, %v", got, err)
	}
	if err := store.Put("", nil); err == nil || err.Error() != "empty key" {
		t.Errorf("Put(\"\") = %v, want the plugin's error", err)
	}
	if _, err := c.Dispense("builder"); err == nil || !strings.Contains(err.Error(), `"builder"`) {
		t.Errorf("Dispense(builder) = %v, want an error naming it", err)
	}
}

// BenchmarkCancel measures how long a cancelled Builder.Run takes to return
// once the host cancels its ctx (the plugin's ctx must be done promptly).
func BenchmarkCancel(b *testing.B) {
	builder := startBuilder(b)
	if err := builder.Prepare(map[string]any{"mode": "wait"}); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		ui := &recUi{lines: make(chan string, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- builder.Run(ctx, nil, ui) }()
		<-ui.lines
		t0 := time.Now()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			b.Fatalf("Run after cancel = %v", err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/cancel")
}
