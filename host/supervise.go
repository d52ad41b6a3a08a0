package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ErrCrashLoop is wrapped by the error of every call of a Supervisor's
// components, and of its Start and Ping, once its plugin exited more
// often than SupervisorOptions.MaxRestarts allows within Window: the
// Supervisor gave up. The text says how often, the last exit, and until
// when; the Supervisor starts the plugin again at the next call once the
// window has passed, or after Reset.
var ErrCrashLoop = errors.New("plugin is crash-looping")

// Defaults for the zero fields of SupervisorOptions.
const (
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxRestarts    = 5
	DefaultRestartWindow  = time.Minute
	DefaultHealthyAfter   = 10 * time.Second
	DefaultHealthFailures = 3
)

// SupervisorOptions say how a Supervisor restarts its plugin and checks
// its health. The zero value restarts with the defaults above and checks
// no health.
type SupervisorOptions struct {
	// MinBackoff and MaxBackoff bound the wait before a restart: the n-th
	// restart within Window waits a random time between half and all of
	// MinBackoff·2ⁿ⁻¹, at most MaxBackoff, so that hosts whose plugins
	// died together do not restart them in step. Zero means 100 ms and
	// 30 s.
	MinBackoff, MaxBackoff time.Duration

	// MaxRestarts is how many restarts Window may hold: the plugin's exit
	// after that many is a crash loop, and the Supervisor gives up (see
	// ErrCrashLoop). Zero means 5; negative means no limit.
	MaxRestarts int

	// Window is the span over which restarts are counted. Zero means one
	// minute.
	Window time.Duration

	// HealthyAfter is how long a process must have run for its exit to
	// start the count again: a plugin that served for that long before it
	// died restarts after MinBackoff, as after its first crash. Zero means
	// 10 s.
	HealthyAfter time.Duration

	// HealthInterval, when positive, is how often the Supervisor pings the
	// plugin (Client.Ping), each Ping bounded by HealthTimeout (zero means
	// HealthInterval). After HealthFailures failed Pings in a row (zero
	// means 3) the process is killed as Client.Kill does (asked to quit,
	// killed after Config.KillGrace) and restarted. A reattached plugin
	// (debug mode), which may be stopped at a breakpoint, is never killed
	// for failed Pings: they are logged. Zero means no health checks.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthFailures int

	// OnEvent, when set, is called with each Event, one at a time and in
	// order, from the Supervisor's own goroutine: it must return promptly
	// and must not call the Supervisor's Kill (hand the event to another
	// goroutine for that). Events are logged on Config.Logger either way.
	OnEvent func(Event)
}

// check reports the first bad option.
func (o *SupervisorOptions) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MinBackoff", o.MinBackoff}, {"MaxBackoff", o.MaxBackoff}, {"Window", o.Window},
		{"HealthyAfter", o.HealthyAfter}, {"HealthInterval", o.HealthInterval}, {"HealthTimeout", o.HealthTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("host: SupervisorOptions.%s %v is negative", d.name, d.v)
		}
	}
	if o.HealthFailures < 0 {
		return fmt.Errorf("host: SupervisorOptions.HealthFailures %d is negative", o.HealthFailures)
	}
	if o.MaxBackoff > 0 && o.MinBackoff > o.MaxBackoff {
		return fmt.Errorf("host: SupervisorOptions.MinBackoff %v is more than MaxBackoff %v", o.MinBackoff, o.MaxBackoff)
	}
	return nil
}

// A Supervisor holds a plugin whose process is started again when it
// ends: the components dispensed through it (Builder, Command,
// DispenseSupervised) outlive the process. One Supervisor runs one
// process at a time, never two: every component dispensed from it shares
// that process, as with a Client, and is dispensed again from the next
// process at its next call.
//
// When the process ends (a crash, a panic, an OOM kill, a SIGKILL, a lost
// connection, or a failed health check), the Supervisor restarts it after
// a back-off (see SupervisorOptions), with a fresh copy of Config.Cmd, the
// same checks as a Client's start (Config.SHA256 is verified again) and
// the same handshake. A call waiting for a restart waits within its
// context. A call in flight when the process ends fails with an error
// wrapping ErrProcessExited and is not made again: calls are not
// idempotent. The calls after it go to the new process.
//
// Component state is lost with the process. A supervised Builder sends
// its last successful Prepare config again to the new process before the
// first call that is not Prepare: a builder's Prepare is its
// configuration, not an action. Any other component says what to replay
// with the replay function of DispenseSupervised.
//
// Kill and CleanupClients end the supervision for good. A Supervisor is
// safe for concurrent use; make one with NewSupervisor or
// Component.NewSupervisor.
type Supervisor struct {
	cfg    Config // each process's Config (a Client starts a copy of Cmd)
	o      SupervisorOptions
	optErr error // why o is unusable
	name   string
	logger hclog.Logger
	gen    uint64 // the registry's generation when made

	ctx    context.Context // ends restarts; cancelled by Kill
	cancel context.CancelFunc

	mu       sync.Mutex // guards the fields below
	state    superState
	cur      *Client       // the process's client, live or starting
	proc     uint64        // counts processes started; names cur
	changed  chan struct{} // closed and replaced at each change of state
	restarts []time.Time   // the restarts within Window
	lastExit error         // how the last process ended
	giveUp   error         // the crash-loop error, while gaveUp
	retryAt  time.Time     // when gaveUp ends

	monitor sync.WaitGroup // the goroutine watching the live process
}

// superState is where a Supervisor is in its process's life.
type superState int

const (
	stateIdle       superState = iota // no process: not started, or a start failed
	stateStarting                     // a call's start is under way
	stateLive                         // cur serves
	stateRestarting                   // the process ended; backing off or starting again
	stateGaveUp                       // crash loop: no process until retryAt or Reset
	stateEnded                        // Kill or CleanupClients
)

// NewSupervisor returns a Supervisor for the plugin cfg describes (as
// NewClient's Config), restarting it as o says (nil means the defaults).
// Nothing starts until Start or the first dispense; a bad Config or
// option is reported there.
func NewSupervisor(cfg *Config, o *SupervisorOptions) *Supervisor {
	return newSupervisor(NewClient(cfg), o)
}

// NewSupervisor returns a Supervisor for the component's binary, with cfg
// completed as Component.NewClient does; each restart checks the binary
// against SHA256 again.
func (c Component) NewSupervisor(cfg *Config, o *SupervisorOptions) *Supervisor {
	return newSupervisor(c.NewClient(cfg), o)
}

// newSupervisor makes a Supervisor whose processes are made as first's
// (a client never started, used for its Config, name and logger).
func newSupervisor(first *Client, o *SupervisorOptions) *Supervisor {
	s := &Supervisor{cfg: first.cfg, name: first.name, logger: first.logger, gen: first.gen, changed: make(chan struct{})}
	if o != nil {
		s.o = *o
	}
	s.optErr = s.o.check()
	if s.o.MinBackoff == 0 {
		s.o.MinBackoff = DefaultMinBackoff
		if s.o.MaxBackoff > 0 {
			s.o.MinBackoff = min(s.o.MinBackoff, s.o.MaxBackoff)
		}
	}
	if s.o.MaxBackoff == 0 {
		s.o.MaxBackoff = max(DefaultMaxBackoff, s.o.MinBackoff)
	}
	if s.o.MaxRestarts == 0 {
		s.o.MaxRestarts = DefaultMaxRestarts
	}
	if s.o.Window == 0 {
		s.o.Window = DefaultRestartWindow
	}
	if s.o.HealthyAfter == 0 {
		s.o.HealthyAfter = DefaultHealthyAfter
	}
	if s.o.HealthTimeout == 0 {
		s.o.HealthTimeout = s.o.HealthInterval
	}
	if s.o.HealthFailures == 0 {
		s.o.HealthFailures = DefaultHealthFailures
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// errZeroSupervisor is what a zero Supervisor's methods return.
var errZeroSupervisor = errors.New("host: the zero host.Supervisor is not usable: make one with host.NewSupervisor")

// newClient returns a client for the next process, entering the registry
// only if CleanupClients has not run since the Supervisor was made.
func (s *Supervisor) newClient() *Client {
	cc := s.cfg
	c := NewClient(&cc)
	c.logger, c.gen = s.logger, s.gen
	return c
}

// setState changes the state and wakes the calls waiting for a change.
// s.mu is held.
func (s *Supervisor) setState(st superState) {
	s.state = st
	close(s.changed)
	s.changed = make(chan struct{})
}

// Start starts the plugin, as Client.Start does, unless it is running or
// restarting: then Start returns nil at once. It returns an error
// wrapping ErrCrashLoop after the Supervisor gave up, and one wrapping
// ErrProcessExited after Kill. When the start fails, Start returns its
// error and the Supervisor starts the plugin again after the back-off, as
// after a crash (the failure counts toward the crash-loop limit); a start
// ended by ctx is not followed by another.
func (s *Supervisor) Start(ctx context.Context) error {
	if s.ctx == nil {
		return errZeroSupervisor
	}
	if ctx == nil {
		return fmt.Errorf("host: Start(nil) for %s: pass a context, e.g. context.Background()", s.name)
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if st == stateRestarting {
		return nil
	}
	_, _, err := s.client(ctx)
	return err
}

// client returns the live process's client and its number, starting the
// process when there is none and waiting (within ctx) while it starts or
// restarts.
func (s *Supervisor) client(ctx context.Context) (*Client, uint64, error) {
	if s.optErr != nil {
		return nil, 0, s.optErr
	}
	for {
		s.mu.Lock()
		switch s.state {
		case stateEnded:
			s.mu.Unlock()
			return nil, 0, s.endedErr()
		case stateLive:
			if c, n := s.cur, s.proc; !c.Exited() {
				s.mu.Unlock()
				return c, n, nil
			}
			// It exited: the monitor restarts it.
		case stateGaveUp:
			if time.Now().Before(s.retryAt) {
				err := s.giveUp
				s.mu.Unlock()
				return nil, 0, err
			}
			s.restarts = nil
			s.state = stateIdle
			fallthrough
		case stateIdle:
			c := s.newClient()
			s.cur = c
			s.setState(stateStarting)
			s.mu.Unlock()
			return s.startFirst(ctx, c)
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			if last := s.exitErr(); last != nil {
				return nil, 0, fmt.Errorf("host: waiting for %s to restart: %w (it exited: %v)", s.name, context.Cause(ctx), last)
			}
			return nil, 0, fmt.Errorf("host: waiting for %s to start: %w", s.name, context.Cause(ctx))
		}
	}
}

// startFirst starts c, the process of a Supervisor that had none, under
// the caller's ctx, and watches it once it started.
func (s *Supervisor) startFirst(ctx context.Context, c *Client) (*Client, uint64, error) {
	registry.enterSupervisor(s)
	err := c.Start(ctx)
	s.mu.Lock()
	if s.state == stateEnded {
		s.mu.Unlock()
		c.Kill()
		return nil, 0, s.endedErr()
	}
	if err != nil && ctx.Err() != nil {
		// Abandoned by the caller: not the plugin's failure.
		s.cur = nil
		s.setState(stateIdle)
		s.mu.Unlock()
		return nil, 0, err
	}
	s.monitor.Add(1)
	if err != nil {
		// The plugin failed to start: that counts as an exit, and it is
		// started again after the back-off, as after a crash.
		s.cur = nil
		s.setState(stateRestarting)
		s.mu.Unlock()
		go s.watch(c, err)
		return nil, 0, err
	}
	s.proc++
	n := s.proc
	s.setState(stateLive)
	s.mu.Unlock()
	go s.watch(c, nil)
	return c, n, nil
}

// endedErr is the error of a call after Kill or CleanupClients.
func (s *Supervisor) endedErr() error {
	return fmt.Errorf("host: %w: %s was killed by Supervisor.Kill (or CleanupClients): its supervision ended", ErrProcessExited, s.name)
}

// exitErr is how the last process ended, or nil.
func (s *Supervisor) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastExit
}

// watch follows the live process c: it checks its health, and when the
// process exits starts another, until Kill, CleanupClients or a crash
// loop. With startErr, c failed to start: that is its exit. watch is the
// only goroutine that emits events while it runs, so they keep their
// order.
func (s *Supervisor) watch(c *Client, startErr error) {
	defer s.monitor.Done()
	for {
		err, pid, ran := startErr, c.pid(), time.Duration(0)
		if startErr == nil {
			s.emit(Event{Kind: EventStarted, Pid: c.pid()})
			since := time.Now()
			stopHealth := s.checkHealth(c)
			<-c.exitedCh()
			stopHealth()
			err, ran = c.exitErr, time.Since(since)
		}
		startErr = nil
		for {
			next, started := s.restart(err, pid, ran)
			if next == nil {
				return
			}
			if started {
				c = next
				break
			}
			// The restart failed: that counts as an exit.
			err, pid, ran = next.startErrOf(), next.pid(), 0
		}
	}
}

// restart handles the end of process pid, which ran for ran and ended
// with err: it waits the back-off and starts a new process. It returns
// the new client and true once started; the client and false when its
// start failed; nil when the supervision ended or gave up.
func (s *Supervisor) restart(err error, pid int, ran time.Duration) (*Client, bool) {
	s.mu.Lock()
	if s.state == stateEnded || registry.generation() != s.gen {
		s.lastExit = err
		if s.state != stateEnded {
			s.setState(stateEnded)
		}
		s.mu.Unlock()
		s.emit(Event{Kind: EventExited, Pid: pid, Err: err, ended: true})
		return nil, false
	}
	attempt, gaveUp := s.count(err, ran)
	if gaveUp {
		s.cur = nil
		s.setState(stateGaveUp)
		giveUp := s.giveUp
		s.mu.Unlock()
		s.emit(Event{Kind: EventExited, Pid: pid, Err: err})
		s.emit(Event{Kind: EventGaveUp, Err: giveUp})
		return nil, false
	}
	wait := s.backoff(attempt)
	s.cur = nil
	s.setState(stateRestarting)
	s.mu.Unlock()
	s.emit(Event{Kind: EventExited, Pid: pid, Err: err})
	s.emit(Event{Kind: EventRestarting, Attempt: attempt, Backoff: wait})

	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-s.ctx.Done():
		t.Stop()
	}
	s.mu.Lock()
	if s.state == stateEnded {
		s.mu.Unlock()
		return nil, false
	}
	c := s.newClient()
	s.cur = c
	s.mu.Unlock()
	registry.enterSupervisor(s)
	if err := c.Start(s.ctx); err != nil {
		s.mu.Lock()
		ended := s.state == stateEnded
		s.cur = nil
		s.mu.Unlock()
		if ended {
			return nil, false
		}
		return c, false
	}
	s.mu.Lock()
	if s.state == stateEnded {
		s.mu.Unlock()
		c.Kill()
		return nil, false
	}
	s.proc++
	s.setState(stateLive)
	s.mu.Unlock()
	return c, true
}

// count records an exit (or failed start) with err of a process that ran
// for ran: it returns the number of the restart due within the window, or
// gaveUp when the crash-loop limit is reached (s.giveUp then says so).
// s.mu is held.
func (s *Supervisor) count(err error, ran time.Duration) (attempt int, gaveUp bool) {
	now := time.Now()
	s.lastExit = err
	if ran >= s.o.HealthyAfter {
		s.restarts = nil
	}
	for len(s.restarts) > 0 && now.Sub(s.restarts[0]) >= s.o.Window {
		s.restarts = s.restarts[1:]
	}
	if s.o.MaxRestarts > 0 && len(s.restarts) >= s.o.MaxRestarts {
		s.retryAt = s.restarts[0].Add(s.o.Window)
		s.giveUp = fmt.Errorf("host: %w: %s exited %d times within %v; not started again before %s or Supervisor.Reset (last: %v)",
			ErrCrashLoop, s.name, len(s.restarts)+1, s.o.Window, s.retryAt.Format(time.RFC3339), err)
		return 0, true
	}
	s.restarts = append(s.restarts, now)
	return len(s.restarts), false
}

// backoff is the wait before restart number attempt within the window:
// random between half and all of MinBackoff·2^(attempt-1), capped.
func (s *Supervisor) backoff(attempt int) time.Duration {
	d := s.o.MaxBackoff
	if shift := attempt - 1; shift < 30 && s.o.MinBackoff<<shift < d {
		d = s.o.MinBackoff << shift
	}
	return d/2 + rand.N(d/2+1)
}

// Reset forgets the restarts counted so far: a Supervisor that gave up
// starts the plugin again at the next call or Start, and one that is
// backing off counts from zero.
func (s *Supervisor) Reset() {
	if s.ctx == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restarts = nil
	if s.state == stateGaveUp {
		s.setState(stateIdle)
	}
}

// Kill ends the supervision for good, then kills the process as
// Client.Kill does: a restart under way is abandoned and what it started
// reaped, no process is started after Kill begins, and calls fail with
// errors wrapping ErrProcessExited. It returns once the process is reaped
// and the Supervisor's goroutines have returned. It is safe to call more
// than once and concurrently.
func (s *Supervisor) Kill() {
	if s.ctx == nil {
		return
	}
	s.mu.Lock()
	if s.state != stateEnded {
		s.setState(stateEnded)
	}
	c := s.cur
	s.mu.Unlock()
	s.cancel()
	if c != nil {
		c.Kill()
	}
	s.monitor.Wait()
	registry.removeSupervisor(s)
}

// Ping pings the live process (see Client.Ping). It starts nothing: while
// the plugin restarts it returns an error wrapping ErrProcessExited that
// says how the process ended; after the Supervisor gave up, one wrapping
// ErrCrashLoop.
func (s *Supervisor) Ping(ctx context.Context) error {
	if s.ctx == nil {
		return errZeroSupervisor
	}
	s.mu.Lock()
	st, c, last, giveUp := s.state, s.cur, s.lastExit, s.giveUp
	s.mu.Unlock()
	switch st {
	case stateIdle:
		return fmt.Errorf("host: Ping: %s is not started (Ping does not start it: call Start, or dispense)", s.name)
	case stateEnded:
		return s.endedErr()
	case stateGaveUp:
		return giveUp
	case stateRestarting:
		return fmt.Errorf("host: Ping: %s is restarting: %w", s.name, last)
	}
	return c.Ping(ctx)
}

// pid is the plugin's process id: the started process's, or the one a
// reattached plugin gave.
func (c *Client) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.reattach != nil:
		return c.reattach.Pid
	case c.cmd != nil && c.cmd.Process != nil:
		return c.cmd.Process.Pid
	}
	return 0
}

// startErrOf is the error a failed start of c returned.
func (c *Client) startErrOf() error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	return c.startErr
}
