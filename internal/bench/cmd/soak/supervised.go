//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// The supervised scenarios: a host.Supervisor whose plugin is SIGKILLed,
// crashed and SIGSTOPped (then killed by the health check) between and
// during calls that three callers make without pause; a crash loop; Pings
// of an idle plugin.
func init() {
	scenarios = append(scenarios,
		scenario{"supervised", scSupervised},
		scenario{"supervised-crash-loop", scCrashLoop},
		scenario{"ping-idle", scPingIdle},
	)
}

// supervisedFaults is how many faults one supervised scenario injects.
const supervisedFaults = 5

// call is one call a supervised scenario's caller made.
type call struct {
	start, end time.Time
	err        error
}

// fault is one fault injected into a supervised plugin: the process may
// end from from on, and the host knew it had ended at known.
type fault struct {
	kind        string
	from, known time.Time
}

// supervisor makes a Supervisor of this binary as a plugin, with its
// events on a channel.
func (r *run) supervisor(o host.SupervisorOptions, extra ...string) (*host.Supervisor, <-chan host.Event, *logCount) {
	lc := &logCount{}
	logger := hclog.New(&hclog.LoggerOptions{Output: lc, Level: hclog.Trace, JSONFormat: true})
	events := make(chan host.Event, 1000)
	o.OnEvent = func(e host.Event) { events <- e }
	s := host.NewSupervisor(&host.Config{
		Cmd: execSelf(r.exe, extra...), KillGrace: r.grace, Logger: logger, Stdout: lc,
		StartTimeout: 30 * time.Second,
	}, &o)
	return s, events, lc
}

// gone reports whether p has ended and been reaped (not even a zombie).
func gone(p proc) bool {
	return errors.Is(syscall.Kill(p.pid, 0), syscall.ESRCH) || startTime(p.pid) != p.start
}

func scSupervised(r *run, rng *rand.Rand) {
	const name = "supervised"
	sup, events, lc := r.supervisor(host.SupervisorOptions{
		MaxRestarts:    -1, // the faults are deliberate
		HealthyAfter:   50 * time.Millisecond,
		HealthInterval: 100 * time.Millisecond, HealthTimeout: 300 * time.Millisecond, HealthFailures: 3,
	})
	defer sup.Kill()
	const lines = 3
	b, err := sup.Builder()
	if err == nil {
		err = b.Prepare(map[string]any{"op": "say", "lines": lines}) // replayed after each restart
	}
	var crasher *host.Supervised[shared.Builder]
	if err == nil {
		crasher, err = host.DispenseSupervised[shared.Builder](sup, shared.BuilderPluginName, nil)
	}
	if err != nil {
		r.fail(name, "start: %v", err)
		return
	}

	done := make(chan struct{})
	var (
		mu    sync.Mutex
		calls []call
		wg    sync.WaitGroup
	)
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var said atomic.Int64
				c := call{start: time.Now()}
				c.err = b.Run(ctx, nil, uiFunc(func(string) { said.Add(1) }))
				c.end = time.Now()
				cancel()
				if n := said.Load(); c.err == nil && n != lines {
					r.fail(name, "a call said %d lines, want %d: the Prepare was not replayed", n, lines)
				}
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // Ping under load
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			t0 := time.Now()
			if sup.Ping(ctx) == nil {
				r.time("Ping under load (3 callers, supervised)", time.Since(t0))
			}
			cancel()
		}
	})

	var faults []fault
	var procs []proc
	started := func() (int, bool) {
		for {
			select {
			case e := <-events:
				switch e.Kind {
				case host.EventStarted:
					for _, p := range procs {
						if !gone(p) {
							r.fail(name, "pid %d started while pid %d of the same supervisor still exists", e.Pid, p.pid)
						}
					}
					p := proc{pid: e.Pid, start: startTime(e.Pid)}
					procs = append(procs, p)
					r.mustBeGone(e.Pid)
					return e.Pid, true
				case host.EventExited:
					r.fail(name, "the plugin exited with no fault injected: %v; log:\n%s", e.Err, lc.tail())
				case host.EventGaveUp:
					r.fail(name, "gave up: %v", e.Err)
					return 0, false
				}
			case <-time.After(30 * time.Second):
				r.fail(name, "no process started within 30 s; log:\n%s", lc.tail())
				return 0, false
			}
		}
	}
	for range supervisedFaults {
		pid, ok := started()
		if !ok {
			break
		}
		time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		f := fault{kind: []string{"sigkill", "crash", "sigstop"}[rng.IntN(3)], from: time.Now()}
		switch f.kind {
		case "sigkill":
			_ = syscall.Kill(pid, syscall.SIGKILL)
		case "sigstop":
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		case "crash":
			_ = crasher.Do(context.Background(), func(v shared.Builder) error { return v.Prepare(map[string]any{"op": "crash-soon"}) })
		}
		ok = false
		for !ok {
			select {
			case e := <-events:
				switch e.Kind {
				case host.EventExited:
					f.known, ok = e.Time, true
					faults = append(faults, f)
				case host.EventStarted, host.EventGaveUp:
					r.fail(name, "event %v before the %s fault's exit", e, f.kind)
				}
			case <-time.After(30 * time.Second):
				r.fail(name, "the %s fault's exit not seen within 30 s; log:\n%s", f.kind, lc.tail())
				close(done)
				wg.Wait()
				return
			}
		}
	}
	if _, ok := started(); ok {
		time.Sleep(100 * time.Millisecond) // calls on the last process
	}
	close(done)
	wg.Wait()
	t0 := time.Now()
	sup.Kill()
	if took := time.Since(t0); took > r.grace+time.Second {
		r.fail(name, "Supervisor.Kill took %v, more than grace + 1 s", took)
	}
	for _, p := range procs {
		if !gone(p) {
			r.fail(name, "pid %d still exists after Supervisor.Kill", p.pid)
		}
	}
	r.checkCalls(name, calls, faults)
}

// checkCalls checks that every failed call was in flight at a fault (it
// overlaps the span from the fault to the host knowing the exit) and
// failed with ErrProcessExited, and records the restart latencies: from
// the exit being known to the end of the first call served that started
// after it.
func (r *run) checkCalls(name string, calls []call, faults []fault) {
	served, inFlight := 0, 0
	for _, c := range calls {
		if c.err == nil {
			served++
			continue
		}
		ok := false
		for _, f := range faults {
			if !c.start.After(f.known) && !c.end.Before(f.from) {
				ok = true
				break
			}
		}
		if !ok || !errors.Is(c.err, host.ErrProcessExited) {
			r.fail(name, "a call not in flight at a crash failed (%s to %s): %v", c.start.Format("15:04:05.000"), c.end.Format("15:04:05.000"), c.err)
			continue
		}
		inFlight++
	}
	r.add("supervised: calls served", served)
	r.add("supervised: calls failed in flight at a crash", inFlight)
	r.add("supervised: restarts", len(faults))
	for _, f := range faults {
		var next time.Time
		for _, c := range calls {
			if c.err == nil && c.start.After(f.known) && (next.IsZero() || c.end.Before(next)) {
				next = c.end
			}
		}
		if next.IsZero() {
			continue // the scenario ended first
		}
		r.time("restart: exit known → next call served ("+f.kind+")", next.Sub(f.known))
		if f.kind == "sigkill" {
			r.time("restart: SIGKILL sent → next call served", next.Sub(f.from))
		}
	}
}

func scCrashLoop(r *run, _ *rand.Rand) {
	const name = "supervised-crash-loop"
	const maxRestarts = 3
	sup, events, lc := r.supervisor(host.SupervisorOptions{MinBackoff: 10 * time.Millisecond, MaxRestarts: maxRestarts, Window: time.Minute},
		envExitAfter+"=300ms")
	defer sup.Kill()
	t0 := time.Now()
	_ = sup.Start(context.Background()) // the process may die before its start completes
	exits := 0
	for gaveUp := false; !gaveUp; {
		select {
		case e := <-events:
			switch e.Kind {
			case host.EventStarted:
				r.mustBeGone(e.Pid)
			case host.EventExited:
				exits++
			case host.EventGaveUp:
				gaveUp = true
				if !errors.Is(e.Err, host.ErrCrashLoop) {
					r.fail(name, "gave up with %v, want ErrCrashLoop", e.Err)
				}
			}
		case <-time.After(60 * time.Second):
			r.fail(name, "did not give up within 60 s; log:\n%s", lc.tail())
			return
		}
	}
	r.time("crash loop: first start → gave up (4 exits, 10 ms back-off)", time.Since(t0))
	if exits != maxRestarts+1 {
		r.fail(name, "gave up after %d exits, want %d", exits, maxRestarts+1)
	}
	t1 := time.Now()
	_, err := sup.Builder()
	r.time("crash loop: a call after giving up fails in", time.Since(t1))
	if !errors.Is(err, host.ErrCrashLoop) {
		r.fail(name, "a call after giving up: %v, want ErrCrashLoop", err)
	}
}

func scPingIdle(r *run, _ *rand.Rand) {
	const name = "ping-idle"
	c, _ := r.client()
	defer c.Kill()
	if err := c.Start(context.Background()); err != nil {
		r.fail(name, "start: %v", err)
		return
	}
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		err := c.Ping(ctx)
		took := time.Since(t0)
		cancel()
		if err != nil {
			r.fail(name, "Ping of an idle plugin: %v", err)
			return
		}
		r.time("Ping idle", took)
	}
}

// envHog, set to "1", makes this binary spin on a CPU until killed.
const envHog = "PLUGWIRE_SOAK_HOG"

// startHogs starts n processes that each keep a CPU busy; the returned
// function kills and reaps them.
func startHogs(exe string, n int) (stop func(), err error) {
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	for range n {
		c := exec.Command(exe)
		c.Env = append(os.Environ(), envHog+"=1")
		if err := c.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("starting a CPU hog: %w", err)
		}
		cmds = append(cmds, c)
	}
	return stop, nil
}

// hog spins until killed.
func hog() {
	for x := 0; ; x++ {
		_ = x * x
	}
}
