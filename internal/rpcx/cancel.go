package rpcx

import (
	"context"
	"sync"
	"time"
)

// callCtx is the context of a method called from the other side. It is
// its own type rather than a context.WithDeadline because the caller's
// deadline can pass on the caller's side a moment before it passes here:
// the cancel that then arrives must end the method's context with
// context.DeadlineExceeded, as the deadline itself would, and a standard
// context can only be cancelled with context.Canceled.
type callCtx struct {
	deadline time.Time // zero: none
	done     chan struct{}

	mu    sync.Mutex
	err   error
	timer *time.Timer
}

func newCallCtx(deadline time.Time) *callCtx {
	c := &callCtx{deadline: deadline, done: make(chan struct{})}
	if !deadline.IsZero() {
		// Under mu: a deadline already past fires at once, and cancel
		// reads timer.
		c.mu.Lock()
		c.timer = time.AfterFunc(time.Until(deadline), func() { c.cancel(context.DeadlineExceeded) })
		c.mu.Unlock()
	}
	return c
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }
func (c *callCtx) Done() <-chan struct{}       { return c.done }
func (c *callCtx) Value(any) any               { return nil }

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *callCtx) String() string { return "plugwire call context" }

// cancel ends the context with err unless it has ended already.
func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done)
	if c.timer != nil {
		c.timer.Stop()
	}
}

// Cancels is the server side of Call: it gives each call a context with
// the caller's deadline and cancels it when the caller asks, when the
// callback stream that carried it ends (EndAll), or when Session ends. The
// zero value is ready.
type Cancels struct {
	// Session, when set, tracks every call started, so that the end of
	// the connection cancels them and can wait for them to return.
	Session *Session

	mu    sync.Mutex
	live  map[uint64]*callCtx
	early map[uint64]earlyCancel // cancels that arrived before their call
	ended bool
}

type earlyCancel struct {
	at       time.Time
	deadline bool
}

// earlyCancelTTL is how long a cancel that found no live call is kept
// for its call to start: longer than MuxBroker's 5 s accept window.
const earlyCancelTTL = 30 * time.Second

// Start returns the context for call id, whose caller's deadline is
// deadline (zero for none), and a function to call when the method returns.
func (c *Cancels) Start(id uint64, deadline time.Time) (context.Context, func()) {
	ctx := newCallCtx(deadline)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.early[id]; ok {
		delete(c.early, id)
		ctx.cancel(cancelErr(e.deadline))
	}
	if c.ended {
		ctx.cancel(context.Canceled)
	}
	c.Session.add(ctx)
	if c.live == nil {
		c.live = make(map[uint64]*callCtx)
	}
	c.live[id] = ctx
	return ctx, func() {
		c.mu.Lock()
		delete(c.live, id)
		c.mu.Unlock()
		ctx.cancel(context.Canceled)
		c.Session.remove(ctx)
	}
}

func cancelErr(deadline bool) error {
	if deadline {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// Cancel cancels call a.CallID, or records the cancel for a call not yet
// started.
func (c *Cancels) Cancel(a CancelArgs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx, ok := c.live[a.CallID]; ok {
		ctx.cancel(cancelErr(a.Deadline))
		return
	}
	// A cancel can also arrive after its call returned; forget such
	// records once no call can still be on its way.
	now := time.Now()
	for k, e := range c.early {
		if now.Sub(e.at) > earlyCancelTTL {
			delete(c.early, k)
		}
	}
	if c.early == nil {
		c.early = make(map[uint64]earlyCancel)
	}
	c.early[a.CallID] = earlyCancel{at: now, deadline: a.Deadline}
}

// EndAll cancels every live call and every later one: the connection that
// carried them is gone.
func (c *Cancels) EndAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	for _, ctx := range c.live {
		ctx.cancel(context.Canceled)
	}
}

// Session is the set of calls served on one connection, on the plugin's
// side: when the host is gone or done, End cancels every call still
// running and Wait gives them time to return (a builder tearing its VM
// down on ctx.Done()). A nil *Session tracks nothing. The zero value is
// ready.
type Session struct {
	mu    sync.Mutex
	calls map[*callCtx]struct{}
	plain int // calls without a context (Begin)
	ended bool
	idle  chan struct{} // closed when no call is left; made by Wait
}

// Begin counts a call that has no context to cancel (its method takes
// none, and no stream) until its Finish: Running and Wait include it.
func (s *Session) Begin() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.plain++
	s.mu.Unlock()
}

// Finish ends a call counted by Begin.
func (s *Session) Finish() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.plain--
	s.idleLocked()
	s.mu.Unlock()
}

// idleLocked wakes Wait when no call is left.
func (s *Session) idleLocked() {
	if len(s.calls) == 0 && s.plain == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

func (s *Session) add(ctx *callCtx) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		ctx.cancel(context.Canceled)
	}
	if s.calls == nil {
		s.calls = make(map[*callCtx]struct{})
	}
	s.calls[ctx] = struct{}{}
}

func (s *Session) remove(ctx *callCtx) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.calls, ctx)
	s.idleLocked()
}

// End cancels the context of every call running and of every later one.
func (s *Session) End() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	for ctx := range s.calls {
		ctx.cancel(context.Canceled)
	}
}

// Running returns how many calls have not returned yet.
func (s *Session) Running() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls) + s.plain
}

// Wait waits up to d for every call to return and reports whether they
// all did.
func (s *Session) Wait(d time.Duration) bool {
	if s == nil {
		return true
	}
	s.mu.Lock()
	if len(s.calls) == 0 && s.plain == 0 {
		s.mu.Unlock()
		return true
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// SessionUser is implemented by the RPC servers of plugwire's contracts: a
// plugin's Serve gives each server it dispenses the Session of its
// connection.
type SessionUser interface {
	SetSession(*Session)
}
