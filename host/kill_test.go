package host_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// Kill asks the plugin to quit and forces it after KillGrace: it returns
// within grace + 1 s even when the plugin ignores both its ctx and the
// request to quit, and the calls in flight then fail with the signal.
func TestKillStubbornPlugin(t *testing.T) {
	t.Parallel()
	const grace = 500 * time.Millisecond
	p := newPlug(t, &host.Config{KillGrace: grace}, "serve", envStubborn+"=1")
	b := preparedBuilder(t, p, map[string]any{"run": "ignorectx"})
	ctx, cancel := context.WithCancel(context.Background())
	inRun := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- b.Run(ctx, nil, uiFunc(func(string) { once.Do(func() { close(inRun) }) }))
	}()
	await(t, inRun, 10*time.Second, "Run reaching the plugin")
	cancel() // ignored by the plugin: the call keeps waiting, as a local one would
	select {
	case err := <-errc:
		t.Fatalf("Run returned %v although the plugin ignores its ctx", err)
	default:
	}
	took := within(t, grace+time.Second, "Kill of a plugin that ignores everything", p.Kill)
	if took < grace {
		t.Errorf("Kill returned after %v, before the grace period %v", took, grace)
	}
	select {
	case err := <-errc:
		wantExited(t, "Run in flight during Kill", err, killedStatus)
	case <-time.After(testutil.Slack(time.Second)):
		t.Fatal("Run still in flight after Kill returned")
	}
	assertReaped(t, p.pid(t))
	wantExited(t, "Prepare after Kill", b.Prepare(nil), killedStatus)
}

// Kill of a plugin that quits when asked (its Run returns once its ctx is
// cancelled) is quick and clean, and the calls in flight end with
// ErrProcessExited.
func TestKillQuitsPlugin(t *testing.T) {
	t.Parallel()
	p := newPlug(t, &host.Config{KillGrace: 5 * time.Second}, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "block"})
	inRun := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- b.Run(context.Background(), nil, uiFunc(func(string) { once.Do(func() { close(inRun) }) }))
	}()
	await(t, inRun, 10*time.Second, "Run reaching the plugin")
	within(t, 2*time.Second, "Kill of a plugin that quits", p.Kill)
	select {
	case err := <-errc:
		wantKilledRun(t, err, "killed by the host (Client.Kill); exit status 0")
	case <-time.After(testutil.Slack(time.Second)):
		t.Fatal("Run still in flight after Kill returned")
	}
	assertReaped(t, p.pid(t))
}

// Kill is safe twice, concurrently, and on a client never started; a
// client killed before it started does not start.
func TestKillIsSafe(t *testing.T) {
	t.Parallel()
	t.Run("never started", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve")
		within(t, 100*time.Millisecond, "Kill of a client never started", p.Kill)
		within(t, 100*time.Millisecond, "second Kill", p.Kill)
		_, err := p.Builder()
		if !errors.Is(err, host.ErrProcessExited) {
			t.Errorf("Builder() after Kill: %v, want an error wrapping ErrProcessExited", err)
		}
		if started := p.log.find(msgIs("plugin started")); len(started) > 0 {
			t.Errorf("a client killed before it started started the plugin: %v", started)
		}
	})
	t.Run("no Cmd", func(t *testing.T) {
		t.Parallel()
		c := host.NewClient(&host.Config{})
		within(t, 100*time.Millisecond, "Kill of a client without Cmd", c.Kill)
		c.Kill()
		if _, err := c.Builder(); err == nil {
			t.Error("Builder() of a client without Cmd succeeded")
		}
	})
	t.Run("nil Config", func(t *testing.T) {
		t.Parallel()
		c := host.NewClient(nil)
		c.Kill()
		if _, err := c.Builder(); err == nil {
			t.Error("Builder() of a client with nil Config succeeded")
		}
		c.Kill()
	})
	t.Run("twice and concurrently", func(t *testing.T) {
		t.Parallel()
		const grace = 300 * time.Millisecond
		p := newPlug(t, &host.Config{KillGrace: grace}, "serve", envStubborn+"=1")
		if _, err := p.Builder(); err != nil {
			t.Fatal(err)
		}
		pid := p.pid(t)
		within(t, grace+time.Second, "8 concurrent Kills", func() {
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.Kill()
					// Every Kill returns only once the process is reaped.
					if !p.Exited() {
						t.Error("Kill returned before the process exited")
					}
				}()
			}
			wg.Wait()
		})
		within(t, 100*time.Millisecond, "Kill after Kill", p.Kill)
		assertReaped(t, pid)
	})
}

// CleanupClients kills every client in parallel. It kills the clients of
// every test, so it does not run in parallel with others.
func TestCleanupClients(t *testing.T) {
	const (
		n     = 4
		grace = 700 * time.Millisecond
	)
	var ps []*plug
	var wg sync.WaitGroup
	for range n {
		p := newPlug(t, &host.Config{KillGrace: grace}, "serve", envStubborn+"=1")
		ps = append(ps, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Builder(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// In parallel: n stubborn plugins take one grace period, not n.
	within(t, grace+time.Second, "CleanupClients of 4 stubborn plugins", host.CleanupClients)
	for _, p := range ps {
		if !p.Exited() {
			t.Error("a plugin was still running after CleanupClients")
		}
		assertReaped(t, p.pid(t))
	}
	within(t, 100*time.Millisecond, "CleanupClients with nothing left", host.CleanupClients)
}

// manyDispensed is how many objects the many-dispenses tests dispense from
// one client: each holds a yamux stream for the life of the connection.
const manyDispensed = 200

// dispenseMany dispenses n builders from p and Prepares each.
func dispenseMany(t *testing.T, p *plug, n int) []shared.Builder {
	t.Helper()
	bs := make([]shared.Builder, n)
	for i := range bs {
		b, err := p.Builder()
		if err != nil {
			t.Fatalf("dispense %d: %v", i, err)
		}
		if err := b.Prepare(map[string]any{"n": i}); err != nil {
			t.Fatalf("Prepare of dispensed builder %d: %v", i, err)
		}
		bs[i] = b
	}
	return bs
}

// Kill stays within grace + 1 s when the client has dispensed many
// objects, each with its own stream, and a call is in flight on one.
func TestKillManyDispensed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ stubborn, lifeline bool }{{false, true}, {true, true}, {false, false}, {true, false}} {
		t.Run(fmt.Sprintf("stubborn=%v,lifeline=%v", tc.stubborn, tc.lifeline), func(t *testing.T) {
			t.Parallel()
			const grace = 500 * time.Millisecond
			cfg := &host.Config{KillGrace: grace}
			stubborn := "0"
			if tc.stubborn {
				stubborn = "1"
			}
			noLifeline := "0"
			if !tc.lifeline {
				noLifeline = "1"
			}
			p := newPlug(t, cfg, "serve", envStubborn+"="+stubborn, envNoLifeline+"="+noLifeline)
			bs := dispenseMany(t, p, manyDispensed)
			pid := p.pid(t)
			if err := bs[0].Prepare(map[string]any{"run": "ignorectx"}); err != nil {
				t.Fatal(err)
			}
			inRun := make(chan struct{})
			var once sync.Once
			errc := make(chan error, 1)
			go func() {
				errc <- bs[0].Run(context.Background(), nil, uiFunc(func(string) { once.Do(func() { close(inRun) }) }))
			}()
			await(t, inRun, 10*time.Second, "Run reaching the plugin")
			within(t, grace+time.Second, "Kill after "+strconv.Itoa(manyDispensed)+" dispenses", p.Kill)
			select {
			case err := <-errc:
				if !errors.Is(err, host.ErrProcessExited) {
					t.Errorf("Run in flight during Kill: %v, want an error wrapping ErrProcessExited", err)
				}
			case <-time.After(testutil.Slack(time.Second)):
				t.Fatal("Run still in flight 1 s after Kill returned")
			}
			assertReaped(t, pid)
			// The plugin's stderr, forwarded up to its exit: yamux had
			// nothing to complain about on either side.
			if noisy := p.log.find(func(e entry) bool { return strings.Contains(e.msg(), "yamux") }); len(noisy) > 0 {
				t.Errorf("yamux logged during Kill: %v", noisy)
			}
			for i, b := range bs {
				if err := b.Prepare(nil); !errors.Is(err, host.ErrProcessExited) {
					t.Fatalf("Prepare of builder %d after Kill: %v, want an error wrapping ErrProcessExited", i, err)
				}
			}
		})
	}
}

// Kill called from inside a callback the plugin is waiting on (the host's
// Ui) does not deadlock: the plugin quits, Kill returns, and the call that
// made the callback fails with ErrProcessExited.
func TestKillFromCallback(t *testing.T) {
	t.Parallel()
	const grace = 500 * time.Millisecond
	p := newPlug(t, &host.Config{KillGrace: grace}, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "block"})
	killed := make(chan time.Duration, 1)
	errc := make(chan error, 1)
	go func() {
		var once sync.Once
		errc <- b.Run(context.Background(), nil, uiFunc(func(string) {
			once.Do(func() {
				start := time.Now()
				p.Kill()
				killed <- time.Since(start)
			})
		}))
	}()
	select {
	case took := <-killed:
		if limit := testutil.Slack(grace + time.Second); took > limit {
			t.Errorf("Kill from a callback took %v, want at most %v", took, limit)
		}
	case <-time.After(testutil.Slack(grace + 10*time.Second)):
		t.Fatal("Kill called from a callback has not returned")
	}
	select {
	case err := <-errc:
		if !errors.Is(err, host.ErrProcessExited) {
			t.Errorf("Run whose callback killed the plugin: %v, want an error wrapping ErrProcessExited", err)
		}
	case <-time.After(testutil.Slack(2 * time.Second)):
		t.Fatal("Run still in flight 2 s after Kill returned")
	}
}

// Dispenses and calls racing with Kill each either work or fail with
// ErrProcessExited; none hangs.
func TestKillRacesDispense(t *testing.T) {
	t.Parallel()
	p := newPlug(t, &host.Config{KillGrace: 500 * time.Millisecond}, "serve")
	if _, err := p.Builder(); err != nil {
		t.Fatal(err)
	}
	const workers = 8
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	stop := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b, err := p.Builder()
				if err == nil {
					err = b.Prepare(map[string]any{"k": "v"})
				}
				if err != nil {
					errc <- err
					return
				}
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
			}
		}()
	}
	within(t, 1500*time.Millisecond, "Kill while 8 goroutines dispense and call", p.Kill)
	close(stop)
	awaitAll(t, &wg, 2*time.Second, "every dispensing goroutine to return after Kill")
	close(errc)
	for err := range errc {
		if err != nil && !errors.Is(err, host.ErrProcessExited) {
			t.Errorf("dispense or call racing with Kill: %v, want nil or an error wrapping ErrProcessExited", err)
		}
	}
}

// A negative KillGrace gives none: Kill kills at once a plugin that would
// have quit when asked (TestKillQuitsPlugin), and the error says why.
func TestKillNegativeGrace(t *testing.T) {
	t.Parallel()
	p := newPlug(t, &host.Config{KillGrace: -1}, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "block"})
	_, errc := runInFlight(t, context.Background(), b)
	pid := p.pid(t)
	within(t, time.Second, "Kill without grace", p.Kill)
	const status = "killed by the host (Client.Kill): Config.KillGrace is negative (no grace); " + killedStatus
	select {
	case err := <-errc:
		wantExited(t, "Run in flight during Kill", err, status)
	case <-time.After(testutil.Slack(time.Second)):
		t.Fatal("Run still in flight after Kill returned")
	}
	wantExited(t, "Prepare after Kill", b.Prepare(nil), status)
	assertReaped(t, pid)
}
