package plugwiretest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/rpc"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/plugwiretest"
	"github.com/plugwire/plugwire/shared"
	"github.com/plugwire/plugwire/shared/config"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recUi records what a plugin says, in order.
type recUi struct {
	mu    sync.Mutex
	lines []string
}

func (u *recUi) Say(format string, a ...any)   { u.add("say: " + fmt.Sprintf(format, a...)) }
func (u *recUi) Error(format string, a ...any) { u.add("error: " + fmt.Sprintf(format, a...)) }
func (u *recUi) add(s string) {
	u.mu.Lock()
	u.lines = append(u.lines, s)
	u.mu.Unlock()
}
func (u *recUi) got() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.lines)
}

// diskBuilder decodes its config and, in Run, uses every callback.
type diskBuilder struct {
	config struct {
		DiskSize int           `json:"disk_size"`
		Timeout  time.Duration `json:"timeout"`
	}
}

func (b *diskBuilder) Prepare(raw any) error {
	return config.Decode(raw, &b.config)
}

func (b *diskBuilder) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	ui.Say("disk %d GB, timeout %v, 100%% sure", b.config.DiskSize, b.config.Timeout)
	if build == nil {
		return nil
	}
	if err := build.Prepare(); err != nil {
		return fmt.Errorf("preparing the build: %w", err)
	}
	return build.Run(ctx, ui)
}

// recBuild is the host's Build: it says so through the Ui it is given.
type recBuild struct{ prepared bool }

func (b *recBuild) Prepare() error { b.prepared = true; return nil }
func (b *recBuild) Run(_ context.Context, ui shared.Ui) error {
	ui.Error("build ran, prepared=%v", b.prepared)
	return nil
}

func TestBuilderConfigAndCallbacks(t *testing.T) {
	t.Parallel()
	b := plugwiretest.Builder(t, &diskBuilder{})
	if err := b.Prepare(map[string]any{"disk_size": 20, "timeout": "90s"}); err != nil {
		t.Fatal(err)
	}
	ui := &recUi{}
	if err := b.Run(context.Background(), &recBuild{}, ui); err != nil {
		t.Fatal(err)
	}
	want := []string{"say: disk 20 GB, timeout 1m30s, 100% sure", "error: build ran, prepared=true"}
	if got := ui.got(); !slices.Equal(got, want) {
		t.Fatalf("Ui got %q, want %q", got, want)
	}
}

// A config.Decode error reaches the test as it reaches a host: its text,
// with key paths relative to the builder's block, and no config.Errors.
func TestBuilderConfigError(t *testing.T) {
	t.Parallel()
	b := plugwiretest.Builder(t, &diskBuilder{})
	err := b.Prepare(map[string]any{"disk_size": "20G", "timout": "90s"})
	want := `disk_size: want number, got "20G"; timout: unknown key (did you mean "timeout"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("Prepare: %v, want %q", err, want)
	}
	var ces config.Errors
	if errors.As(err, &ces) {
		t.Fatal("errors.As found a config.Errors, which a real host does not get")
	}
}

// What does not survive the trip to a plugin fails in the test, as it
// would in the field.
func TestBuilderConfigThatDoesNotCross(t *testing.T) {
	t.Parallel()
	type settings struct {
		diskSize int // unexported: encoding/json drops it
	}
	tests := []struct {
		name   string
		config any
		is     error  // errors.Is must hold
		text   string // the error must contain it
	}{
		{"NaN", map[string]any{"disk_size": math.NaN()}, shared.ErrConfigNotJSON, "unsupported value: NaN"},
		{"channel", map[string]any{"disk_size": make(chan int)}, shared.ErrConfigNotJSON, "unsupported type: chan int"},
		{"unexported fields arrive as {}", map[string]any{"disk": settings{diskSize: 20}}, nil, `disk: unknown key`},
		{"a string where a number is due", map[string]any{"disk_size": "20G"}, nil, `disk_size: want number, got "20G"`},
	}
	b := plugwiretest.Builder(t, &diskBuilder{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Prepare(tt.config)
			if err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Prepare: error %v, want one containing %q", err, tt.text)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Prepare: errors.Is(%v, %v) is false", err, tt.is)
			}
		})
	}
}

// blockingBuilder's Run waits for its context and reports how it ended.
type blockingBuilder struct {
	started chan struct{}
	ended   chan error
}

func newBlockingBuilder() *blockingBuilder {
	return &blockingBuilder{started: make(chan struct{}), ended: make(chan error, 1)}
}

func (b *blockingBuilder) Prepare(any) error { return nil }
func (b *blockingBuilder) Run(ctx context.Context, _ shared.Build, ui shared.Ui) error {
	close(b.started)
	<-ctx.Done()
	ui.Say("cleaning up after %v", ctx.Err()) // the Ui still works while cleaning up
	b.ended <- ctx.Err()
	return fmt.Errorf("interrupted: %w", ctx.Err())
}

func TestBuilderCancellation(t *testing.T) {
	t.Parallel()
	bb := newBlockingBuilder()
	b := plugwiretest.Builder(t, bb)
	ctx, cancel := context.WithCancel(context.Background())
	ui := &recUi{}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(ctx, nil, ui) }()
	<-bb.started
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) || err.Error() != "interrupted: context canceled" {
		t.Fatalf("Run: error %v, want the plugin's error wrapping context.Canceled", err)
	}
	if perr := <-bb.ended; !errors.Is(perr, context.Canceled) {
		t.Fatalf("the plugin's ctx ended with %v", perr)
	}
	if got := ui.got(); !slices.Equal(got, []string{"say: cleaning up after context canceled"}) {
		t.Fatalf("Ui got %q", got)
	}
}

// A Run still going when the test ends is cancelled, and the kit waits
// for it: no goroutine is left (checked by goleak, so not in parallel).
func TestCleanupCancelsRunning(t *testing.T) {
	bb := newBlockingBuilder()
	errc := make(chan error, 1)
	t.Run("test", func(t *testing.T) {
		b := plugwiretest.Builder(t, bb)
		go func() { errc <- b.Run(context.Background(), nil, &recUi{}) }()
		<-bb.started
	})
	if err := <-bb.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the plugin's ctx ended with %v, want context.Canceled", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the host's Run returned nil after the plugin was cancelled")
	}
	goleak.VerifyNone(t)
}

// errBuilder returns errors of every kind.
type errBuilder struct{}

var errMine = errors.New("disk full")

func (errBuilder) Prepare(config any) error {
	switch config {
	case "panic":
		panic("boom")
	case "wrapped":
		return fmt.Errorf("step 3: %w", errMine)
	case "empty":
		return errors.New("")
	}
	return nil
}
func (errBuilder) Run(context.Context, shared.Build, shared.Ui) error { return nil }

// Errors cross as in production: their text, not their identity.
func TestBuilderErrors(t *testing.T) {
	t.Parallel()
	b := plugwiretest.Builder(t, errBuilder{})
	tests := []struct {
		config, text string
	}{
		{"wrapped", "step 3: disk full"},
		{"empty", ""},
		{"panic", "panic in Builder.Prepare: boom"},
	}
	for _, tt := range tests {
		err := b.Prepare(tt.config)
		if err == nil || err.Error() != tt.text {
			t.Errorf("Prepare(%q): error %v, want %q", tt.config, err, tt.text)
		}
		if errors.Is(err, errMine) {
			t.Errorf("Prepare(%q): errors.Is holds for the plugin's own sentinel, which a real host does not see", tt.config)
		}
	}
}

// Many tests at once, each with its own plugin.
func TestParallel(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			b := plugwiretest.Builder(t, &diskBuilder{})
			if err := b.Prepare(map[string]any{"disk_size": i}); err != nil {
				t.Fatal(err)
			}
			ui := &recUi{}
			if err := b.Run(context.Background(), &recBuild{}, ui); err != nil {
				t.Fatal(err)
			}
			if got := ui.got(); len(got) != 2 || !strings.Contains(got[0], fmt.Sprintf("disk %d GB", i)) {
				t.Fatalf("Ui got %q", got)
			}
		})
	}
}

// listCommand uses its Environment: the host's Ui, a builder the host
// serves back, and the host's CLI.
type listCommand struct{}

func (listCommand) Synopsis() string { return "lists things" }
func (listCommand) Run(ctx context.Context, env shared.Environment, args []string) int {
	ui := env.Ui()
	b, err := env.Builder(args[0])
	if err != nil {
		ui.Error("%v", err)
		return 1
	}
	if err := b.Prepare(map[string]any{"disk_size": 1}); err != nil {
		ui.Error("%v", err)
		return 1
	}
	if err := b.Run(ctx, nil, ui); err != nil {
		ui.Error("%v", err)
		return 1
	}
	code, err := env.Cli(ctx, args[1:])
	if err != nil {
		ui.Error("%v", err)
	}
	return code
}

// hostEnv is the host's Environment.
type hostEnv struct{ ui *recUi }

func (e hostEnv) Builder(name string) (shared.Builder, error) {
	if name != "disk" {
		return nil, fmt.Errorf("no builder %q", name)
	}
	return &diskBuilder{}, nil
}
func (e hostEnv) Cli(_ context.Context, args []string) (int, error) {
	e.ui.Say("cli %q", args)
	return len(args), nil
}
func (e hostEnv) Ui() shared.Ui { return e.ui }

func TestCommand(t *testing.T) {
	t.Parallel()
	c := plugwiretest.Command(t, listCommand{})
	if s := c.Synopsis(); s != "lists things" {
		t.Fatalf("Synopsis = %q", s)
	}
	ui := &recUi{}
	if code := c.Run(context.Background(), hostEnv{ui: ui}, []string{"disk", "a", "b"}); code != 2 {
		t.Fatalf("Run = %d, want 2; Ui got %q", code, ui.got())
	}
	want := []string{"say: disk 1 GB, timeout 0s, 100% sure", `say: cli ["a" "b"]`}
	if got := ui.got(); !slices.Equal(got, want) {
		t.Fatalf("Ui got %q, want %q", got, want)
	}
	if code := c.Run(context.Background(), hostEnv{ui: ui}, []string{"vm"}); code != 1 {
		t.Fatalf("Run = %d, want 1", code)
	}
	if got := ui.got(); got[len(got)-1] != `error: no builder "vm"` {
		t.Fatalf("Ui got %q", got)
	}
}

// panicCommand panics in Synopsis, and its Run says a line to a Ui that
// panics.
type panicCommand struct{}

func (panicCommand) Synopsis() string { panic("boom") }
func (panicCommand) Run(_ context.Context, env shared.Environment, _ []string) int {
	env.Ui().Say("%s", "to a Ui that panics")
	return 7
}

type panicUi struct{ said atomic.Int32 }

// panicEnv is an Environment whose Ui panics.
type panicEnv struct {
	hostEnv
	ui *panicUi
}

func (e panicEnv) Ui() shared.Ui { return e.ui }

func (u *panicUi) Say(string, ...any)   { u.said.Add(1); panic("ui boom") }
func (u *panicUi) Error(string, ...any) {}

// A panic in Synopsis or Ui.Say, which their servers call without
// reflection, is caught as any method's: the caller gets ErrPanic, the
// process goes on.
func TestCommandPanics(t *testing.T) {
	t.Parallel()
	c := plugwiretest.Command(t, panicCommand{})
	s, err := c.SynopsisErr()
	if s != "" || !errors.Is(err, shared.ErrPanic) || err.Error() != "panic in Command.Synopsis: boom" {
		t.Fatalf("SynopsisErr = %q, %v; want a panic error", s, err)
	}
	ui := &panicUi{}
	if code := c.Run(context.Background(), panicEnv{ui: ui}, nil); code != 7 || ui.said.Load() != 1 {
		t.Fatalf("Run = %d with %d lines said, want 7 with 1", code, ui.said.Load())
	}
	if s, err := c.SynopsisErr(); err == nil || s != "" {
		t.Fatalf("SynopsisErr after the panics = %q, %v", s, err)
	}
}

// ---- a go-plugin plugin of the author's own, whose values cross as gob ----

// Store keeps values.
type Store interface {
	Put(key string, v any) error
}

type memStore struct{ m sync.Map }

func (s *memStore) Put(key string, v any) error { s.m.Store(key, v); return nil }

type PutArgs struct {
	Key   string
	Value any
}

type storeRPC struct{ c *rpc.Client }

func (s *storeRPC) Put(key string, v any) error {
	return s.c.Call("Plugin.Put", PutArgs{key, v}, new(struct{}))
}

type StoreServer struct{ impl Store }

func (s *StoreServer) Put(a PutArgs, _ *struct{}) error { return s.impl.Put(a.Key, a.Value) }

type storePlugin struct{ impl Store }

func (p *storePlugin) Server(*plugin.MuxBroker) (any, error) { return &StoreServer{impl: p.impl}, nil }
func (p *storePlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &storeRPC{c: c}, nil
}

type point struct{ X, Y int }

// A value gob cannot send fails through Dispense as it would between
// processes, and a registered one arrives.
func TestDispenseGob(t *testing.T) {
	t.Parallel()
	mem := &memStore{}
	s := plugwiretest.Dispense(t, map[string]plugin.Plugin{"store": &storePlugin{impl: mem}}, "store").(Store)
	if err := s.Put("n", 1); err != nil {
		t.Fatalf("Put(int): %v", err)
	}
	err := s.Put("p", point{1, 2})
	if err == nil || !strings.Contains(err.Error(), "type not registered for interface") {
		t.Fatalf("Put(unregistered type): error %v, want gob's type not registered", err)
	}
	if _, ok := mem.m.Load("p"); ok {
		t.Fatal("the unregistered value arrived")
	}
}

// badStorePlugin's server has no method net/rpc can serve: its argument
// type is unexported.
type badStorePlugin struct{ storePlugin }

type badStoreServer struct{}

type putArgs struct{ Key string }

func (badStoreServer) Put(putArgs, *struct{}) error { return nil }

func (*badStorePlugin) Server(*plugin.MuxBroker) (any, error) { return badStoreServer{}, nil }

// A plugin whose RPC server net/rpc cannot serve fails at Dispense, with
// why, where go-plugin between processes would leave every call waiting.
func TestDispenseUnservable(t *testing.T) {
	t.Parallel()
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		plugwiretest.Dispense(ft, map[string]plugin.Plugin{"store": &badStorePlugin{}}, "store")
	}()
	<-done
	want := `dispensing "store": plugwiretest: net/rpc cannot serve the plugwiretest_test.badStoreServer this plugin's Server returned: rpc.Register: type Plugin has no exported methods of suitable type`
	if !strings.Contains(ft.msg, want) {
		t.Fatalf("Fatal message %q, want one containing %q", ft.msg, want)
	}
}

// Dispensing a name the plugins do not have fails the test with
// go-plugin's error; checked through a TB that records it.
func TestDispenseUnknown(t *testing.T) {
	t.Parallel()
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		plugwiretest.Dispense(ft, map[string]plugin.Plugin{"store": &storePlugin{impl: &memStore{}}}, "nope")
	}()
	<-done
	if !strings.Contains(ft.msg, `dispensing "nope": unknown plugin type: nope`) {
		t.Fatalf("Fatal message %q", ft.msg)
	}
}

// fatalTB records Fatal and ends the goroutine as Fatal does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, a ...any) {
	f.msg = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

// The real binary, three lines; built from ".", as in a plugin's own
// tests, it is named after its package, not ".".
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	t.Chdir("../examples/builder-noop")
	c := plugwiretest.Binary(t, ".")
	if _, err := c.Dispense("builder/nope"); err == nil || !strings.Contains(err.Error(), `"builder/nope" from builder-noop:`) {
		t.Fatalf("Dispense of an unknown component: %v, want it to name builder-noop", err)
	}
	b, err := c.Builder()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Prepare(map[string]any{"name": "demo"}); err != nil {
		t.Fatal(err)
	}
	ui := &recUi{}
	if err := b.Run(context.Background(), nil, ui); err != nil {
		t.Fatal(err)
	}
	if got := ui.got(); len(got) != 5 || got[4] != "say: noop: done" {
		t.Fatalf("Ui got %q", got)
	}
	if _, err := os.Stat("builder-noop"); err == nil {
		t.Fatal("go build wrote the binary into the package directory")
	}
}
