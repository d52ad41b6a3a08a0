package host

import (
	"context"
	"fmt"
	"sync"

	"github.com/plugwire/plugwire/shared"
)

// Supervised is a component dispensed through a Supervisor: a T (the
// dispensed value's type, such as shared.Builder or a host's own
// contract) that is dispensed again from each new process. Make one with
// DispenseSupervised; call it with Do.
type Supervised[T any] struct {
	s      *Supervisor
	name   string
	replay func(ctx context.Context, v T) error

	mu      sync.Mutex // held while dispensing and replaying, not during calls
	proc    uint64     // the process v was dispensed from; 0 before the first
	v       T
	pending bool // v is a fresh dispense whose state is not replayed yet
}

// DispenseSupervised dispenses name (as Client.Dispense) through s,
// starting the plugin if it is not running, and returns it as a component
// that outlives the process: each call through Do runs on the live
// process, dispensing name again from a new one first.
//
// replay, when not nil, gives a freshly dispensed value the state the
// previous one had: it runs once on each value dispensed after a restart,
// before the first call on it (within that call's context); a failed
// replay fails that call, and the next call replays again. A host's own
// contract that has state (a config set once, a session opened) records
// what set it and replays it there; a contract without state passes nil.
// A supervised Builder (Supervisor.Builder) replays its last successful
// Prepare this way.
func DispenseSupervised[T any](s *Supervisor, name string, replay func(ctx context.Context, v T) error) (*Supervised[T], error) {
	if s == nil || s.ctx == nil {
		return nil, errZeroSupervisor
	}
	p := &Supervised[T]{s: s, name: name, replay: replay}
	c, proc, err := s.client(context.Background())
	if err != nil {
		return nil, err
	}
	if _, err := p.value(context.Background(), c, proc, false); err != nil {
		return nil, err
	}
	return p, nil
}

// Do calls call with the component of the live process. When the process
// ended since the last call, Do waits (within ctx) for the restart, then
// dispenses the component again and replays its state before call.
// call's error is returned as it is, except that a call that failed
// because the process ended returns an error wrapping ErrProcessExited:
// such a call is not made again, and the next Do goes to the restarted
// process. After Kill, and while the Supervisor gives up (ErrCrashLoop),
// Do fails at once without calling call.
func (p *Supervised[T]) Do(ctx context.Context, call func(v T) error) error {
	_, err := p.do(ctx, true, call)
	return err
}

// do is Do; without replay a fresh value's state is not replayed first
// (the call sets it: a Builder's Prepare). It returns the number of the
// process it called.
func (p *Supervised[T]) do(ctx context.Context, replay bool, call func(v T) error) (uint64, error) {
	if ctx == nil {
		return 0, fmt.Errorf("host: a call of supervised %q with a nil context", p.name)
	}
	c, proc, err := p.s.client(ctx)
	if err != nil {
		return 0, err
	}
	v, err := p.value(ctx, c, proc, replay)
	if err != nil {
		return proc, err
	}
	return proc, c.callErr(call(v))
}

// value returns the component for process proc (client c), dispensing it
// from c when it came from an earlier process, and replaying its state
// first with replay.
func (p *Supervised[T]) value(ctx context.Context, c *Client, proc uint64, replay bool) (T, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != proc {
		raw, err := c.Dispense(p.name)
		if err != nil {
			var zero T
			return zero, err
		}
		v, err := as[T](c, raw, p.name)
		if err != nil {
			return v, err
		}
		p.pending = p.proc != 0 && p.replay != nil
		p.v, p.proc = v, proc
	}
	if p.pending && replay {
		if err := c.callErr(p.replay(ctx, p.v)); err != nil {
			return p.v, fmt.Errorf("host: replaying the state of %q after %s restarted: %w", p.name, c.name, err)
		}
		p.pending = false
	}
	return p.v, nil
}

// replayed records that a call on process proc's component set its
// state, so that no replay is due.
func (p *Supervised[T]) replayed(proc uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == proc {
		p.pending = false
	}
}

// Builder dispenses the plugin's "builder" as a supervised shared.Builder
// (see Supervisor): its last successful Prepare is sent again to a
// restarted process before the next Run.
func (s *Supervisor) Builder() (shared.Builder, error) {
	return s.DispenseBuilder(shared.BuilderPluginName)
}

// DispenseBuilder dispenses the builder a plugin serves under name (such
// as a Component's "builder/ebs") as a supervised shared.Builder.
func (s *Supervisor) DispenseBuilder(name string) (shared.Builder, error) {
	b := &supervisedBuilder{}
	h, err := DispenseSupervised(s, name, b.replay)
	if err != nil {
		return nil, err
	}
	b.h = h
	return b, nil
}

// Command dispenses the plugin's "command" as a supervised
// shared.RemoteCommand (a Command has no state to replay).
func (s *Supervisor) Command() (shared.RemoteCommand, error) {
	return s.DispenseCommand(shared.CommandPluginName)
}

// DispenseCommand dispenses the command a plugin serves under name (such
// as a Component's "command/validate") as a supervised
// shared.RemoteCommand.
func (s *Supervisor) DispenseCommand(name string) (shared.RemoteCommand, error) {
	h, err := DispenseSupervised[shared.RemoteCommand](s, name, nil)
	if err != nil {
		return nil, err
	}
	return &supervisedCommand{h: h}, nil
}

// supervisedBuilder is a shared.Builder that outlives its process and
// keeps its last successful Prepare config to replay.
type supervisedBuilder struct {
	h *Supervised[shared.Builder]

	mu       sync.Mutex
	config   any
	prepared bool
}

func (b *supervisedBuilder) replay(_ context.Context, v shared.Builder) error {
	b.mu.Lock()
	config, prepared := b.config, b.prepared
	b.mu.Unlock()
	if !prepared {
		return nil
	}
	return v.Prepare(config)
}

// Prepare prepares the live process's builder and keeps config for its
// successors. A Prepare after a restart replaces the state: nothing is
// replayed before it.
func (b *supervisedBuilder) Prepare(config any) error {
	proc, err := b.h.do(context.Background(), false, func(v shared.Builder) error { return v.Prepare(config) })
	if err == nil {
		b.mu.Lock()
		b.config, b.prepared = config, true
		b.mu.Unlock()
		b.h.replayed(proc)
	}
	return err
}

func (b *supervisedBuilder) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	return b.h.Do(ctx, func(v shared.Builder) error { return v.Run(ctx, build, ui) })
}

// supervisedCommand is a shared.RemoteCommand that outlives its process.
type supervisedCommand struct {
	h *Supervised[shared.RemoteCommand]
}

// Run returns 1, and logs why, when the call itself failed.
func (c *supervisedCommand) Run(ctx context.Context, env shared.Environment, args []string) int {
	code, err := c.RunErr(ctx, env, args)
	if err != nil {
		c.h.s.logger.Error("Command.Run failed", "error", err)
	}
	return code
}

func (c *supervisedCommand) RunErr(ctx context.Context, env shared.Environment, args []string) (int, error) {
	code := 1
	err := c.h.Do(ctx, func(v shared.RemoteCommand) error {
		var err error
		code, err = v.RunErr(ctx, env, args)
		return err
	})
	if err != nil && code == 0 {
		code = 1
	}
	return code, err
}

// Synopsis returns "", and logs why, when the call itself failed.
func (c *supervisedCommand) Synopsis() string {
	s, err := c.SynopsisErr()
	if err != nil {
		c.h.s.logger.Error("Command.Synopsis failed", "error", err)
	}
	return s
}

func (c *supervisedCommand) SynopsisErr() (string, error) {
	var s string
	err := c.h.Do(context.Background(), func(v shared.RemoteCommand) error {
		var err error
		s, err = v.SynopsisErr()
		return err
	})
	return s, err
}
