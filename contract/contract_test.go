package contract_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/plugwire/plugwire/shared"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/plugwiretest"
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
	tt, err := Testers.Dispense(c, "tester/"+name)
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
	// A value JSON refuses is an error naming it; nothing is called.
	_, err := tt.Echo("", nil, map[string]any{"c": make(chan int)}, nil)
	if !errors.Is(err, contract.ErrEncoding) || !strings.Contains(err.Error(), "Tester.Echo: argument 3") {
		t.Errorf("Echo(chan) = %v, want ErrEncoding naming the argument", err)
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
	two, err := Testers.Dispense(c, "tester/two")
	if err != nil || one.Pid() != two.Pid() {
		t.Errorf("tester/two: %v", err)
	}
	if _, err := Testers.Dispense(c, "tester/three"); !errors.Is(err, host.ErrNoComponent) {
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
