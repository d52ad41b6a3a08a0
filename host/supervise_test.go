package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

func init() {
	// A plugin that serves, then exits with status 3 after
	// PLUGWIRE_TEST_DELAY: a crash loop when supervised.
	moreHelpers["serve-then-exit"] = func() int {
		d, _ := time.ParseDuration(os.Getenv(envDelay))
		time.AfterFunc(d, func() { lastWords("serve-then-exit") })
		return serveHelper()
	}
}

// sup is a Supervisor under test with its events and log.
type sup struct {
	*host.Supervisor
	events chan host.Event
	log    *logSink
	seen   []host.Event // the events next took so far
}

// newSup makes a Supervisor of the helper behaviour, logging at Trace, with
// the events on a channel, killed when the test ends.
func newSup(t *testing.T, o host.SupervisorOptions, cfg *host.Config, behaviour string, env ...string) *sup {
	t.Helper()
	if cfg == nil {
		cfg = &host.Config{}
	}
	if cfg.Cmd == nil {
		cfg.Cmd = helperCmd(behaviour, env...)
	}
	logger, sink := testLogger(hclog.Trace)
	cfg.Logger = logger
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = time.Second
	}
	s := &sup{events: make(chan host.Event, 1000), log: sink}
	o.OnEvent = func(e host.Event) { s.events <- e }
	s.Supervisor = host.NewSupervisor(cfg, &o)
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("supervisor log:\n%s", sink.dump())
		}
	})
	return s
}

// next waits for the next event, which must be of kind.
func (s *sup) next(t *testing.T, kind host.EventKind) host.Event {
	t.Helper()
	select {
	case e := <-s.events:
		s.seen = append(s.seen, e)
		if e.Kind != kind {
			t.Fatalf("event %v, want one of kind %v (events so far: %v)", e, kind, s.seen)
		}
		return e
	case <-time.After(testutil.Slack(30 * time.Second)):
		t.Fatalf("no %v event within 30 s (events so far: %v)", kind, s.seen)
	}
	panic("unreachable")
}

// nextAny waits for the next event.
func (s *sup) nextAny(t *testing.T) host.Event {
	t.Helper()
	select {
	case e := <-s.events:
		s.seen = append(s.seen, e)
		return e
	case <-time.After(testutil.Slack(30 * time.Second)):
		t.Fatalf("no event within 30 s (events so far: %v)", s.seen)
	}
	panic("unreachable")
}

// noEvent checks that no event is pending.
func (s *sup) noEvent(t *testing.T) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Fatalf("unexpected event %v", e)
	default:
	}
}

// sayUi collects what a plugin says.
type sayUi struct {
	mu   sync.Mutex
	said []string
	ch   chan string
}

func (u *sayUi) add(s string) {
	u.mu.Lock()
	u.said = append(u.said, s)
	u.mu.Unlock()
	if u.ch != nil {
		u.ch <- s
	}
}
func (u *sayUi) Say(f string, a ...any)   { u.add(fmt.Sprintf(f, a...)) }
func (u *sayUi) Error(f string, a ...any) { u.add(fmt.Sprintf(f, a...)) }
func (u *sayUi) lines() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.said...)
}

// A supervised builder whose process is SIGKILLed while idle works at its
// next call, on a new process, with its last Prepare replayed; the old
// process is reaped.
func TestSupervisedRestart(t *testing.T) {
	t.Parallel()
	s := newSup(t, host.SupervisorOptions{}, nil, "serve")
	b, err := s.Builder()
	if err != nil {
		t.Fatal(err)
	}
	pid1 := s.next(t, host.EventStarted).Pid
	if err := b.Prepare(map[string]any{"run": "say"}); err != nil {
		t.Fatal(err)
	}
	ui := &sayUi{}
	if err := b.Run(context.Background(), nil, ui); err != nil {
		t.Fatal(err)
	}
	if err := killPid(pid1); err != nil {
		t.Fatal(err)
	}
	e := s.next(t, host.EventExited)
	wantExited(t, "exit event", e.Err, killedStatus)
	if e.Pid != pid1 {
		t.Errorf("exit event for pid %d, want %d", e.Pid, pid1)
	}
	// The call right after the exit is known waits for the restart.
	ui = &sayUi{}
	if err := b.Run(context.Background(), nil, ui); err != nil {
		t.Fatalf("Run after the restart: %v", err)
	}
	if got := ui.lines(); len(got) != 1 || got[0] != "run says hello" {
		t.Fatalf("Run after the restart said %q, want the replayed config's \"run says hello\"", got)
	}
	if r := s.next(t, host.EventRestarting); r.Attempt != 1 || r.Backoff <= 0 || r.Backoff > host.DefaultMinBackoff {
		t.Errorf("restarting event %v, want attempt 1 within the minimum back-off", r)
	}
	pid2 := s.next(t, host.EventStarted).Pid
	if pid2 == pid1 || pid2 == 0 {
		t.Fatalf("restarted as pid %d (was %d)", pid2, pid1)
	}
	assertReaped(t, pid1)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
	s.Kill()
	e = s.next(t, host.EventExited)
	if !strings.Contains(e.Err.Error(), "Client.Kill") {
		t.Errorf("exit after Kill: %v", e.Err)
	}
	s.noEvent(t)
	assertReaped(t, pid2)
	if err := b.Run(context.Background(), nil, ui); !errors.Is(err, host.ErrProcessExited) {
		t.Fatalf("Run after Kill: %v, want ErrProcessExited", err)
	}
	if !strings.Contains(s.log.dump(), "supervised plugin restarting") {
		t.Error("the restart is not in the log")
	}
}

// A call in flight when the process dies fails with ErrProcessExited and is
// not made again; the next call works. A Prepare after the restart is not
// preceded by a replay.
func TestSupervisedCallInFlight(t *testing.T) {
	t.Parallel()
	s := newSup(t, host.SupervisorOptions{}, nil, "serve")
	b, err := s.Builder()
	if err != nil {
		t.Fatal(err)
	}
	pid := s.next(t, host.EventStarted).Pid
	if err := b.Prepare(map[string]any{"run": "block"}); err != nil {
		t.Fatal(err)
	}
	ui := &sayUi{ch: make(chan string, 10)}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background(), nil, ui) }()
	<-ui.ch
	if err := killPid(pid); err != nil {
		t.Fatal(err)
	}
	wantExited(t, "Run in flight", <-errc, killedStatus)
	if err := b.Prepare(map[string]any{"run": "say"}); err != nil {
		t.Fatalf("Prepare after the crash: %v", err)
	}
	ui = &sayUi{}
	if err := b.Run(context.Background(), nil, ui); err != nil {
		t.Fatalf("Run after the crash: %v", err)
	}
	if got := ui.lines(); len(got) != 1 || got[0] != "run says hello" {
		t.Fatalf("Run after the crash said %q", got)
	}
}

// A plugin that exits soon after each start is restarted with growing
// back-offs until MaxRestarts, then calls fail at once with ErrCrashLoop
// until Reset; a plugin that ran for HealthyAfter restarts as after its
// first crash, for ever.
func TestSupervisedCrashLoop(t *testing.T) {
	t.Parallel()
	t.Run("gives up", func(t *testing.T) {
		t.Parallel()
		o := host.SupervisorOptions{MinBackoff: 10 * time.Millisecond, MaxRestarts: 3, Window: time.Hour}
		s := newSup(t, o, nil, "serve-then-exit", envDelay+"=100ms")
		// A process may exit before its start completed: that counts
		// as an exit too, without a started event.
		_ = s.Start(context.Background())
		exits, attempt := 0, 0
		for done := false; !done; {
			e := s.nextAny(t)
			switch e.Kind {
			case host.EventExited:
				exits++
				wantExited(t, "exit", e.Err, "exit status 3", "serve-then-exit")
			case host.EventRestarting:
				attempt++
				if ceiling := 10 * time.Millisecond << (attempt - 1); e.Attempt != attempt || e.Backoff < ceiling/2 || e.Backoff > ceiling {
					t.Errorf("restart %d: %v, want a back-off within [%v, %v]", attempt, e, ceiling/2, ceiling)
				}
			case host.EventGaveUp:
				s.seen = s.seen[:len(s.seen)-1]
				s.events <- e
				done = true
			}
		}
		if exits != 4 || attempt != 3 {
			t.Errorf("gave up after %d exits and %d restarts, want 4 and 3", exits, attempt)
		}
		g := s.next(t, host.EventGaveUp)
		if !errors.Is(g.Err, host.ErrCrashLoop) || !strings.Contains(g.Err.Error(), "exit status 3") {
			t.Fatalf("gave up with %v, want ErrCrashLoop with the last exit", g.Err)
		}
		b, err := s.Builder()
		if !errors.Is(err, host.ErrCrashLoop) || b != nil {
			t.Fatalf("dispense after giving up: %v, want ErrCrashLoop", err)
		}
		if err := s.Ping(context.Background()); !errors.Is(err, host.ErrCrashLoop) {
			t.Fatalf("Ping after giving up: %v", err)
		}
		s.noEvent(t)
		s.Reset()
		// The plugin is started again: the new process may exit before
		// its start completes (Start then returns how, and there is no
		// started event), and either way its exit is the first of a
		// fresh count.
		err = s.Start(context.Background())
		if err != nil {
			wantExited(t, "Start after Reset", err, "exit status 3", "serve-then-exit")
		} else {
			s.next(t, host.EventStarted)
		}
		wantExited(t, "exit after Reset", s.next(t, host.EventExited).Err, "exit status 3", "serve-then-exit")
		if r := s.next(t, host.EventRestarting); r.Attempt != 1 {
			t.Fatalf("%v after Reset, want attempt 1", r)
		}
	})
	t.Run("window passes", func(t *testing.T) {
		t.Parallel()
		window := testutil.Slack(2 * time.Second)
		o := host.SupervisorOptions{MinBackoff: time.Millisecond, MaxRestarts: 1, Window: window}
		s := newSup(t, o, nil, "serve-then-exit", envDelay+"=100ms")
		began := time.Now() // the window's first restart comes after this
		_ = s.Start(context.Background())
		var g host.Event
		for g.Kind != host.EventGaveUp {
			g = s.nextAny(t)
		}
		// The Supervisor gives up until window after the first restart it
		// counted, which a loaded machine may make only just before the
		// second exit: a Start that returned before began+window must be
		// refused; a later one may already be the start once the window
		// passed, checked below.
		err := s.Start(context.Background())
		if errors.Is(err, host.ErrCrashLoop) {
			time.Sleep(window) // the window is a span of time: nothing to wait on
			err = s.Start(context.Background())
		} else if time.Since(began) < window {
			t.Fatalf("Start right after giving up: %v, want ErrCrashLoop", err)
		}
		// The new process may exit before its start completes (Start
		// then returns how); it is started either way.
		if err == nil {
			s.next(t, host.EventStarted)
		} else if !errors.Is(err, host.ErrProcessExited) {
			t.Fatalf("Start once the window passed: %v", err)
		}
	})
	t.Run("healthy period resets the count", func(t *testing.T) {
		t.Parallel()
		o := host.SupervisorOptions{MinBackoff: time.Millisecond, MaxRestarts: 1, Window: time.Hour, HealthyAfter: time.Nanosecond}
		s := newSup(t, o, nil, "serve")
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := killPid(s.next(t, host.EventStarted).Pid); err != nil {
				t.Fatal(err)
			}
			s.next(t, host.EventExited)
			if r := s.next(t, host.EventRestarting); r.Attempt != 1 {
				t.Fatalf("%v after a healthy run, want attempt 1", r)
			}
		}
	})
}

// Kill during a back-off ends it at once and starts nothing.
func TestSupervisedKillDuringBackoff(t *testing.T) {
	t.Parallel()
	s := newSup(t, host.SupervisorOptions{MinBackoff: time.Hour, MaxBackoff: time.Hour}, nil, "serve")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := s.next(t, host.EventStarted).Pid
	if err := killPid(pid); err != nil {
		t.Fatal(err)
	}
	s.next(t, host.EventExited)
	s.next(t, host.EventRestarting)
	within(t, testutil.Slack(time.Second), "Kill during a back-off", s.Kill)
	s.noEvent(t)
	if err := s.Start(context.Background()); !errors.Is(err, host.ErrProcessExited) {
		t.Fatalf("Start after Kill: %v, want ErrProcessExited", err)
	}
}

// A set's process is restarted once, and each component dispensed from it
// is dispensed again from the new process.
func TestSupervisedSet(t *testing.T) {
	t.Parallel()
	s := newSup(t, host.SupervisorOptions{}, nil, "set", envSet+"=builder/a,command/b")
	b, err := s.DispenseBuilder("builder/a")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.DispenseCommand("command/b")
	if err != nil {
		t.Fatal(err)
	}
	pid := s.next(t, host.EventStarted).Pid
	if err := killPid(pid); err != nil {
		t.Fatal(err)
	}
	s.next(t, host.EventExited)
	if syn := c.Synopsis(); syn != "a test command" {
		t.Fatalf("Synopsis after the restart: %q", syn)
	}
	if err := b.Prepare(map[string]any{"run": "say"}); err != nil {
		t.Fatalf("Prepare after the restart: %v", err)
	}
	s.next(t, host.EventRestarting)
	s.next(t, host.EventStarted)
	s.noEvent(t)
}

// Start's context ends a first start; the Supervisor stays startable.
func TestSupervisedStartCancel(t *testing.T) {
	t.Parallel()
	s := newSup(t, host.SupervisorOptions{}, nil, "slow", envDelay+"=200ms")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context: %v", err)
	}
	if err := s.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("Ping after a cancelled start: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start after a cancelled one: %v", err)
	}
	s.next(t, host.EventStarted)
}

// CleanupClients ends supervision: the process is killed, nothing is
// restarted, and calls fail. Not parallel: CleanupClients kills every
// client of the test binary.
func TestSupervisedCleanupClients(t *testing.T) {
	s := newSup(t, host.SupervisorOptions{}, nil, "serve")
	c, err := s.Command()
	if err != nil {
		t.Fatal(err)
	}
	pid := s.next(t, host.EventStarted).Pid
	host.CleanupClients()
	e := s.next(t, host.EventExited)
	if !strings.Contains(e.Err.Error(), "Client.Kill") {
		t.Errorf("exit at CleanupClients: %v", e.Err)
	}
	s.noEvent(t)
	assertReaped(t, pid)
	if _, err := c.SynopsisErr(); !errors.Is(err, host.ErrProcessExited) {
		t.Fatalf("call after CleanupClients: %v", err)
	}
}

// DispenseSupervised works for any dispensed type, replays a host
// contract's state with its own function, and checks the type.
func TestDispenseSupervised(t *testing.T) {
	t.Parallel()
	s := newSup(t, host.SupervisorOptions{}, nil, "serve")
	if _, err := host.DispenseSupervised[shared.Builder](s.Supervisor, "command", nil); !errors.Is(err, host.ErrWrongType) || !strings.Contains(err.Error(), "not a shared.Builder") {
		t.Fatalf("dispensing a command as a builder: %v", err)
	}
	var replays int
	h, err := host.DispenseSupervised(s.Supervisor, "builder", func(ctx context.Context, b shared.Builder) error {
		replays++
		return b.Prepare(map[string]any{"run": "say"})
	})
	if err != nil {
		t.Fatal(err)
	}
	pid := s.next(t, host.EventStarted).Pid
	run := func() []string {
		ui := &sayUi{}
		if err := h.Do(context.Background(), func(b shared.Builder) error { return b.Run(context.Background(), nil, ui) }); err != nil {
			t.Fatal(err)
		}
		return ui.lines()
	}
	if got := run(); len(got) != 0 || replays != 0 {
		t.Fatalf("first process: said %q after %d replays, want nothing and none", got, replays)
	}
	if err := killPid(pid); err != nil {
		t.Fatal(err)
	}
	s.next(t, host.EventExited)
	for range 2 {
		if got := run(); len(got) != 1 || replays != 1 {
			t.Fatalf("after the restart: said %q after %d replays, want the replayed config's line and 1 replay", got, replays)
		}
	}
}
