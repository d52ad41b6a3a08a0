package plugwiretest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/plugwire/plugwire/shared"
)

// calls tracks the plugin methods running on one in-process connection,
// so that the end of the test cancels them and waits for them.
type calls struct {
	ctx    context.Context // cancelled at the end of the test
	cancel context.CancelFunc

	mu      sync.Mutex
	running map[*string]struct{}
	idle    chan struct{} // closed when running empties, while someone waits
}

func newCalls() *calls {
	ctx, cancel := context.WithCancel(context.Background())
	return &calls{ctx: ctx, cancel: cancel, running: map[*string]struct{}{}}
}

// begin records a call to method until the returned function is called.
func (c *calls) begin(method string) func() {
	id := &method
	c.mu.Lock()
	c.running[id] = struct{}{}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.running, id)
		if len(c.running) == 0 && c.idle != nil {
			close(c.idle)
			c.idle = nil
		}
		c.mu.Unlock()
	}
}

// run records a call to method that takes ctx, and returns the context to
// give it: ctx, also cancelled at the end of the test.
func (c *calls) run(ctx context.Context, method string) (context.Context, func()) {
	done := c.begin(method)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		done()
	}
}

// end cancels the calls still running and waits up to grace for them to
// return. It returns the methods still running then, sorted.
func (c *calls) end(grace time.Duration) []string {
	c.cancel()
	c.mu.Lock()
	if len(c.running) == 0 {
		c.mu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	c.idle = idle
	c.mu.Unlock()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-idle:
		return nil
	case <-t.C:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for m := range c.running {
		names = append(names, *m)
	}
	slices.Sort(names)
	return names
}

// builder is a served shared.Builder whose calls are tracked.
type builder struct {
	impl  shared.Builder
	calls *calls
}

func (b *builder) Prepare(config any) error {
	defer b.calls.begin("Builder.Prepare")()
	return b.impl.Prepare(config)
}

func (b *builder) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	ctx, done := b.calls.run(ctx, "Builder.Run")
	defer done()
	return b.impl.Run(ctx, build, ui)
}

// command is a served shared.Command whose calls are tracked.
type command struct {
	impl  shared.Command
	calls *calls
}

func (c *command) Run(ctx context.Context, env shared.Environment, args []string) int {
	ctx, done := c.calls.run(ctx, "Command.Run")
	defer done()
	return c.impl.Run(ctx, env, args)
}

func (c *command) Synopsis() string {
	defer c.calls.begin("Command.Synopsis")()
	return c.impl.Synopsis()
}
