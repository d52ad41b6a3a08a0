package contract_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/plugwiretest"
	"github.com/plugwire/plugwire/shared"
)

// startTester starts the tester plugin and dispenses tester/NAME.
func startTester(t *testing.T, name string) (Tester, *host.Client) {
	t.Helper()
	c := host.NewClient(&host.Config{
		Cmd:     helperCmd("tester"),
		Plugins: map[string]plugin.Plugin{"tester": Testers.Plugin(nil)},
		Logger:  hclog.NewNullLogger(),
	})
	t.Cleanup(c.Kill)
	tt, err := host.Dispense[Tester](c, "tester/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return tt, c
}

// want is what describeErr says of an error made by makeErr(kind) and
// returned across the wire.
func want(kind string) string {
	switch kind {
	case "none":
		return "nil"
	case "panic":
		return `"panic in Tester.Fail: boom" remote=true canceled=false deadline=false notfound=false panic=true`
	}
	err := makeErr(context.Background(), kind)
	return strings.Replace(describeErr(err), "remote=false", "remote=true", 1)
}

// Errors cross with their text and identity, from the plugin to the host
// (Fail) and from the host's callback to the plugin (Probe).
func TestErrorKinds(t *testing.T) {
	tt, _ := startTester(t, "one")
	ctx := context.Background()
	for _, kind := range []string{"none", "plain", "empty", "eof-text", "canceled", "deadline", "sentinel", "panic"} {
		t.Run(kind, func(t *testing.T) {
			if got := describeErr(tt.Fail(ctx, kind)); got != want(kind) {
				t.Errorf("plugin to host: got %s\nwant %s", got, want(kind))
			}
			got, err := tt.Probe(ctx, kind, &tester{})
			if err != nil || got != want(kind) {
				t.Errorf("host to plugin: got %s (%v)\nwant %s", got, err, want(kind))
			}
		})
	}
	// The plugin lives on after a panic.
	if err := tt.Fail(ctx, "none"); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
}

// Cancellation and deadlines cross both ways: the host's ctx ends the
// plugin's method, and through it the host's callback the plugin called.
func TestContext(t *testing.T) {
	tt, _ := startTester(t, "one")
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		is   error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			err := tt.Wait(ctx)
			var re *contract.RemoteError
			if !errors.Is(err, tc.is) || !errors.As(err, &re) {
				t.Errorf("Wait = %v, want the plugin's %v", err, tc.is)
			}
			ctx, cancel = tc.ctx()
			defer cancel()
			got, err := tt.Probe(ctx, "ctx", &tester{})
			want := fmt.Sprintf("%q remote=true canceled=%v deadline=%v notfound=false panic=false",
				tc.is.Error(), tc.is == context.Canceled, tc.is == context.DeadlineExceeded)
			if err != nil || got != want {
				t.Errorf("the host's callback, through the plugin: %s (%v)\nwant %s", got, err, want)
			}
		})
	}
}

// Values cross as they were: nil stays nil, empty stays empty.
func TestValues(t *testing.T) {
	tt, _ := startTester(t, "one")
	for _, tc := range []struct {
		s    string
		list []string
		m    map[string]any
		p    *Point
		want string
	}{
		{"", nil, nil, nil, `"" []string(nil)(nil=true) map[](nil=true) <nil>`},
		{"x", []string{}, map[string]any{}, &Point{}, `"x" []string{}(nil=false) map[](nil=false) &{X:0 Y:0 Tags:[]}`},
		{"ü%s", []string{"a", ""}, map[string]any{"n": 1.5, "l": []any{"a", nil}, "o": map[string]any{}}, &Point{X: 1, Y: -2, Tags: []string{"t"}},
			`"ü%s" []string{"a", ""}(nil=false) map[l:[a <nil>] n:1.5 o:map[]](nil=false) &{X:1 Y:-2 Tags:[t]}`},
	} {
		got, err := tt.Echo(tc.s, tc.list, tc.m, tc.p)
		if err != nil || got != tc.want {
			t.Errorf("Echo = %s (%v)\nwant %s", got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		b    bool
		i8   int8
		u    uint64
		f    float32
		bs   []byte
		m    Mode
		want string
	}{
		{false, 0, 0, 0, nil, "", `false 0 0 0 ""(nil=true) ""`},
		{true, -128, 1<<64 - 1, -1.5, []byte{}, "fast", `true -128 18446744073709551615 -1.5 ""(nil=false) "fast"`},
		{true, 127, 1, float32(math.Inf(1)), []byte("\xff\x00"), "ü", `true 127 1 +Inf "\xff\x00"(nil=false) "ü"`},
	} {
		got, bs, err := tt.Kinds(tc.b, tc.i8, tc.u, tc.f, tc.bs, tc.m)
		if err != nil || got != tc.want || (bs == nil) != (tc.bs == nil) || string(bs) != string(tc.bs) {
			t.Errorf("Kinds = %s, %q (%v)\nwant %s, %q", got, bs, err, tc.want, tc.bs)
		}
	}
	// A value JSON refuses is an error naming it; nothing is called.
	_, err := tt.Echo("", nil, map[string]any{"c": make(chan int)}, nil)
	if !errors.Is(err, contract.ErrEncoding) || !strings.Contains(err.Error(), "Tester.Echo: argument 3") {
		t.Errorf("Echo(chan) = %v, want ErrEncoding naming the argument", err)
	}
	// A string that is not UTF-8 inside a value crossing as JSON is refused,
	// naming where it is, rather than changed; U+FFFD itself, and the text
	// of its JSON escape, cross as they are.
	for _, tc := range []struct {
		v    map[string]any
		want string // "" when it crosses
	}{
		{map[string]any{"a": []any{"ok", "b\xffd"}}, `the string "b\xffd" at ["a"][1] is not valid UTF-8`},
		{map[string]any{"k\xfe": 1}, `the string "k\xfe" at ["k\xfe"] (a key) is not valid UTF-8`},
		{map[string]any{"a": "\ufffd and \\ufffd", "b": `\\ufffd`}, ""},
	} {
		got, err := tt.Echo("", nil, tc.v, nil)
		if tc.want == "" {
			if err != nil || !strings.Contains(got, "\ufffd and \\ufffd") || !strings.Contains(got, `\\ufffd`) {
				t.Errorf("Echo(%q) = %q, %v; want it to cross unchanged", tc.v, got, err)
			}
			continue
		}
		if !errors.Is(err, contract.ErrEncoding) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Echo(%q) = %v, want ErrEncoding saying %s", tc.v, err, tc.want)
		}
	}
}

// A callback that takes a callback works three deep; nil stays nil; a
// callback used after its method returned fails with ErrReleased.
func TestCallbacks(t *testing.T) {
	tt, _ := startTester(t, "one")
	ctx := context.Background()
	if got, err := tt.Nest(ctx, 3, &tester{}); err != nil || got != "3,2,1,0" {
		t.Errorf("Nest(3) = %q, %v; want 3,2,1,0", got, err)
	}
	if got, err := tt.Nest(ctx, 3, nil); err != nil || got != "3:nil" {
		t.Errorf("Nest(nil) = %q, %v; want 3:nil", got, err)
	}
	if err := tt.Keep(&tester{}); err != nil {
		t.Fatal(err)
	}
	err := tt.Reuse(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "released: Tester.Fail: "+contract.ErrReleased.Error()) {
		t.Errorf("Reuse = %v, want the plugin to have got ErrReleased", err)
	}
}

// Components register under KIND/NAME and describe lists their kind.
func TestDescribe(t *testing.T) {
	cmd := helperCmd("tester")
	cmd.Args = append(cmd.Args, "describe")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Components map[string][]string }
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(d.Components); got != "map[tester:[one two]]" {
		t.Errorf("describe lists %s", got)
	}
	// Both are dispensed from one process.
	one, c := startTester(t, "one")
	two, err := host.Dispense[Tester](c, "tester/two")
	if err != nil || one.Pid() != two.Pid() {
		t.Errorf("tester/two: %v", err)
	}
	if _, err := host.Dispense[Tester](c, "tester/three"); !errors.Is(err, host.ErrNoComponent) {
		t.Errorf("tester/three: %v, want ErrNoComponent", err)
	}
}

// plugwiretest serves a contract in the test's process over the wire.
func TestPlugwiretest(t *testing.T) {
	tt := plugwiretest.Contract(t, Testers, Tester(&tester{}))
	if got, err := tt.Nest(context.Background(), 3, &tester{}); err != nil || got != "3,2,1,0" {
		t.Errorf("Nest(3) = %q, %v", got, err)
	}
	if got := describeErr(tt.Fail(context.Background(), "sentinel")); got != want("sentinel") {
		t.Errorf("Fail = %s", got)
	}
	n, sum, err := tt.Sum(context.Background(), -1, &patternReader{n: 1 << 20, failAt: -1})
	if err != nil || n != 1<<20 || sum != patternSum(1<<20) {
		t.Errorf("Sum = %d, %s, %v", n, sum, err)
	}
}

var errPanic = shared.ErrPanic

// recordUi records what it is told.
type recordUi struct {
	mu    sync.Mutex
	lines []string
}

func (u *recordUi) Say(format string, a ...any) { u.add("say: " + fmt.Sprintf(format, a...)) }
func (u *recordUi) Error(format string, a ...any) {
	u.add("error: " + fmt.Sprintf(format, a...))
}
func (u *recordUi) add(s string) {
	u.mu.Lock()
	u.lines = append(u.lines, s)
	u.mu.Unlock()
}

// A contract's method may take the library's own contracts (shared.Ui) as
// callbacks.
func TestSharedUiCallback(t *testing.T) {
	tt, _ := startTester(t, "one")
	ui := &recordUi{}
	if err := tt.Tell(context.Background(), ui, "100% done"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ui.lines, "|"); got != "say: 100% done|error: 50%" {
		t.Errorf("the host's Ui got %q", got)
	}
	// A line that is not UTF-8 (a remote command's output in another
	// encoding) is shown with U+FFFD for its bad bytes, not lost.
	ui = &recordUi{}
	if err := tt.Tell(context.Background(), ui, "caf\xe9"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ui.lines, "|"); got != "say: caf\uFFFD|error: 50%" {
		t.Errorf("the host's Ui got %q for a line that is not UTF-8", got)
	}
}

// A plugin in debug mode serves a contract to hosts that reattach, one
// after another.
func TestDebugReattach(t *testing.T) {
	cmd := helperCmd("tester")
	cmd.Env = append(cmd.Env, "PLUGWIRE_DEBUG=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), host.EnvReattach+"="); ok {
				line <- strings.Trim(v, "'")
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if runtime.GOOS == "windows" {
			_ = cmd.Process.Kill()
		} else {
			_ = cmd.Process.Signal(os.Interrupt)
		}
		<-exited
	})
	var value string
	select {
	case value = <-line:
	case err := <-exited:
		t.Fatalf("the debug plugin exited: %v", err)
	}
	t.Setenv(host.EnvReattach, value)
	r, err := host.LookupReattach(helperCmd("tester"))
	if err != nil || r == nil {
		t.Fatalf("LookupReattach: %v, %v", r, err)
	}
	for i := range 2 {
		c := host.NewClient(&host.Config{Reattach: r, Plugins: map[string]plugin.Plugin{"tester": Testers.Plugin(nil)}, Logger: hclog.NewNullLogger()})
		tt, err := host.Dispense[Tester](c, "tester/two")
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		if got, err := tt.Nest(context.Background(), 3, &tester{}); err != nil || got != "3,2,1,0" {
			t.Errorf("host %d: Nest = %q, %v", i, got, err)
		}
		n, sum, err := tt.Sum(context.Background(), -1, &patternReader{n: 1 << 20, failAt: -1})
		if err != nil || n != 1<<20 || sum != patternSum(1<<20) {
			t.Errorf("host %d: Sum = %d, %v", i, n, err)
		}
		c.Kill()
	}
}

// stuck ignores its context.
type stuck struct {
	tester
	started, release chan struct{}
}

func (s *stuck) Wait(ctx context.Context) error {
	close(s.started)
	<-s.release
	return nil
}

// errorTB records Errorf and then runs onError.
type errorTB struct {
	testing.TB
	mu      sync.Mutex
	msgs    []string
	onError func()
}

func (e *errorTB) Errorf(format string, a ...any) {
	e.mu.Lock()
	e.msgs = append(e.msgs, fmt.Sprintf(format, a...))
	e.mu.Unlock()
	e.onError()
}

// plugwiretest fails a test whose contract method does not return once
// its context is cancelled at the end of the test.
func TestPlugwiretestStuck(t *testing.T) {
	s := &stuck{started: make(chan struct{}), release: make(chan struct{})}
	var rec *errorTB
	done := make(chan error, 1)
	t.Run("stuck", func(t *testing.T) {
		rec = &errorTB{TB: t, onError: func() { close(s.release) }}
		tt := plugwiretest.Contract[Tester](rec, Testers, s)
		go func() { done <- tt.Wait(context.Background()) }()
		<-s.started
	})
	<-done
	if len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "1 method(s) still running") {
		t.Errorf("errors %q, want one about the method still running", rec.msgs)
	}
}

// A client line that does not match the interface gets an error naming
// the mistake, never a panic, and nothing is called.
func TestCallMistakes(t *testing.T) {
	c := plugwiretest.Contract(t, Testers, Tester(&tester{})).(testerClient).c
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"unknown method", func() error { return c.Call("Fial", context.Background(), "plain") }, `contract: Tester has no method "Fial"`},
		{"no context", func() error { return c.Call("Fail", "plain") }, "Tester.Fail: the first argument must be a non-nil context.Context"},
		{"nil context", func() error { return c.Call("Fail", nil, "plain") }, "Tester.Fail: the first argument must be a non-nil context.Context"},
		{"too few", func() error { return c.Call("Fail", context.Background()) }, "Tester.Fail: called with 0 arguments, the method takes 1"},
		{"wrong type", func() error { return c.Call("Fail", context.Background(), 42) }, "Tester.Fail: argument 1 has type int, want string"},
		{"nil value", func() error {
			_, err := contract.Call1[int64](c, "Gen", context.Background(), nil, int64(0), nil)
			return err
		}, "Tester.Gen: argument 1 is nil, want type int64"},
		{"results", func() error { return c.Call("Pid") }, "Tester.Pid: called for 0 results, the method has 1"},
		{"result type", func() error { _, err := contract.Call1[string](c, "Pid"); return err }, "Tester.Pid: called for result 1 of type string, the method returns int"},
		{"another implementation", func() error {
			_, err := contract.Call1[string](c, "Nest", context.Background(), 1, &fakeTester{})
			return err
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.want == "" {
				if err != nil {
					t.Errorf("%v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// fakeTester is a Tester of another type: it crosses as a callback.
type fakeTester struct{ tester }

type (
	chanParam interface{ M(c chan int) error }
	ctxSecond interface {
		M(s string, ctx context.Context) error
	}
	readerOut   interface{ M() (io.Reader, error) }
	errorSecond interface{ M() (error, int) }
)

// New refuses, with a message naming the method, what can never cross.
func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func()
		want string
	}{
		{"not an interface", func() { contract.New[int](func(*contract.Client) int { return 0 }) }, "contract.New: int is not an interface"},
		{"chan", func() { contract.New[chanParam](func(*contract.Client) chanParam { return nil }) }, "contract.New: chanParam.M: parameter 1: chan int cannot cross the wire (it holds a chan int)"},
		{"ctx second", func() { contract.New[ctxSecond](func(*contract.Client) ctxSecond { return nil }) }, "contract.New: ctxSecond.M: a context.Context must be the first parameter"},
		{"reader result", func() { contract.New[readerOut](func(*contract.Client) readerOut { return nil }) }, "contract.New: readerOut.M: result 1: io.Reader cannot be a result (pass an io.Writer or io.Reader in instead)"},
		{"error first", func() { contract.New[errorSecond](func(*contract.Client) errorSecond { return nil }) }, "contract.New: errorSecond.M: result 1: error is allowed only as the last result"},
		{"twice", func() { contract.New[Tester](func(c *contract.Client) Tester { return testerClient{c} }) }, "contract.New: contract_test.Tester has a contract already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if got := fmt.Sprint(recover()); got != tc.want {
					t.Errorf("panic %q\nwant  %q", got, tc.want)
				}
			}()
			tc.new()
		})
	}
}

// A host discovers a binary serving a contract, looks the component up by
// kind and name, and dispenses it.
func TestDiscoveredComponent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.TempDir(t) // t.TempDir cannot remove a binary that ran, under Wine
	name := "plugwire-tester"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envHelper, "tester") // for describe and the start alike
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	cat, err := host.DiscoverOptions{NoCache: true}.Discover(context.Background(), "plugwire-", dir)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := cat.Lookup("tester", "tester-two") // plugin "tester", its component "two"
	if err != nil {
		t.Fatal(err)
	}
	c := comp.NewClient(&host.Config{Plugins: map[string]plugin.Plugin{"tester": Testers.Plugin(nil)}, Logger: hclog.NewNullLogger()})
	defer c.Kill()
	tt, err := host.Dispense[Tester](c, comp.Dispense)
	if err != nil || comp.Dispense != "tester/two" {
		t.Fatalf("dispensing %q: %v", comp.Dispense, err)
	}
	if got, err := tt.Nest(context.Background(), 3, &tester{}); err != nil || got != "3,2,1,0" {
		t.Errorf("Nest = %q, %v", got, err)
	}
}

// moreUi is a shared.Ui with methods of its own that sort before the
// interface's: the server must call the interface's methods by name, not
// by their index in the concrete type's method set.
type moreUi struct{ recordUi }

func (*moreUi) Abort()           {}
func (*moreUi) Ask(string) error { return nil }

// moreTester is a Tester with an extra method sorting first.
type moreTester struct{ *tester }

func (moreTester) Aardvark() string { return "wrong method" }

// An implementation, or a callback, with more methods than its contract
// gets each call in the method it named.
func TestImplWithExtraMethods(t *testing.T) {
	tt := plugwiretest.Contract(t, Testers, Tester(moreTester{&tester{}}))
	if got, err := tt.Echo("x", nil, nil, nil); err != nil || !strings.HasPrefix(got, `"x" `) {
		t.Errorf("Echo on an implementation with an extra method = %q, %v", got, err)
	}
	ui := &moreUi{}
	if err := tt.Tell(context.Background(), ui, "100% done"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ui.lines, "|"); got != "say: 100% done|error: 50%" {
		t.Errorf("a Ui callback with extra methods got %q", got)
	}
}
