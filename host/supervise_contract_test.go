package host_test

import (
	"context"
	"sync"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/host"
)

// Counter is a host's own contract with state: a base set once, then
// added to.
type Counter interface {
	SetBase(ctx context.Context, base int) error
	Add(ctx context.Context, n int) (int, error)
}

var counters = contract.New[Counter](func(c *contract.Client) Counter { return counterClient{c} })

type counterClient struct{ c *contract.Client }

func (c counterClient) SetBase(ctx context.Context, base int) error {
	return c.c.Call("SetBase", ctx, base)
}

func (c counterClient) Add(ctx context.Context, n int) (int, error) {
	return contract.Call1[int](c.c, "Add", ctx, n)
}

// counter is the plugin's Counter.
type counter struct {
	mu   sync.Mutex
	base int
}

func (c *counter) SetBase(_ context.Context, base int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = base
	return nil
}

func (c *counter) Add(_ context.Context, n int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base + n, nil
}

func init() {
	moreHelpers["counter"] = func() int {
		var set plugwire.Set
		set.Register("counter", "c", counters.Plugin(&counter{}))
		set.Run()
		return 0
	}
}

// recordedCounter is the host's side of a supervised Counter: it records
// the base it set, which its replay sets again on a new process.
type recordedCounter struct {
	h *host.Supervised[Counter]

	mu   sync.Mutex
	base *int
}

func (r *recordedCounter) replay(ctx context.Context, c Counter) error {
	r.mu.Lock()
	base := r.base
	r.mu.Unlock()
	if base == nil {
		return nil
	}
	return c.SetBase(ctx, *base)
}

func (r *recordedCounter) SetBase(ctx context.Context, base int) error {
	err := r.h.Do(ctx, func(c Counter) error { return c.SetBase(ctx, base) })
	if err == nil {
		r.mu.Lock()
		r.base = &base
		r.mu.Unlock()
	}
	return err
}

func (r *recordedCounter) Add(ctx context.Context, n int) (sum int, err error) {
	err = r.h.Do(ctx, func(c Counter) error {
		sum, err = c.Add(ctx, n)
		return err
	})
	return sum, err
}

// A host's own contract, supervised with DispenseSupervised, gets its
// state back on the restarted process through its replay function.
func TestSupervisedContract(t *testing.T) {
	t.Parallel()
	s := newSup(t, host.SupervisorOptions{}, &host.Config{Plugins: map[string]plugin.Plugin{"counter": counters.Plugin(nil)}}, "counter")
	rc := &recordedCounter{}
	h, err := host.DispenseSupervised(s.Supervisor, "counter/c", rc.replay)
	if err != nil {
		t.Fatal(err)
	}
	rc.h = h
	ctx := context.Background()
	if err := rc.SetBase(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if sum, err := rc.Add(ctx, 2); err != nil || sum != 42 {
		t.Fatalf("Add = %d, %v; want 42", sum, err)
	}
	if err := killPid(s.next(t, host.EventStarted).Pid); err != nil {
		t.Fatal(err)
	}
	s.next(t, host.EventExited)
	if sum, err := rc.Add(ctx, 2); err != nil || sum != 42 {
		t.Fatalf("Add after the restart = %d, %v; want 42 (the base replayed)", sum, err)
	}
}
