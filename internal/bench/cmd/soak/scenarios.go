//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

type scenario struct {
	name string
	run  func(r *run, rng *rand.Rand)
}

var scenarios = []scenario{
	{"say", scSay},
	{"kill-during-cleanup", scKillCleanup},
	{"cancel", scCancel},
	{"deadline", scDeadline},
	{"sigkill", scSigkill},
	{"sigstop-then-kill", scSigstop},
	{"crash", scCrash},
	{"panic-goroutine", scPanic},
	{"panic-method", scMethodPanic},
	{"remote-error", scRemoteErr},
	{"flood", scFlood},
	{"grandchild-forced", scGrandchild},
	{"reply-then-exit", scReplyExit},
}

// plugin is a started client with its builder.
type plugin struct {
	c  *host.Client
	b  shared.Builder
	lc *logCount
}

func (r *run) start(name string) (*plugin, bool) {
	c, lc := r.client()
	b, err := c.Builder()
	if err != nil {
		r.fail(name, "start: %v", err)
		c.Kill()
		return nil, false
	}
	return &plugin{c: c, b: b, lc: lc}, true
}

// kill Kills the plugin and checks the bound; it returns how long it took.
func (r *run) kill(name string, p *plugin) time.Duration {
	t0 := time.Now()
	p.c.Kill()
	took := time.Since(t0)
	if took > r.grace+time.Second {
		r.fail(name, "Kill (from %s) took %v, more than grace + 1 s; the client's log:\n%s", t0.Format("15:04:05.000"), took, p.lc.tail())
	}
	if !p.c.Exited() {
		r.fail(name, "Kill returned before the process exited")
	}
	return took
}

// inRun prepares cfg and starts Run, and waits for the plugin's "ready"
// line; it returns the pids the line names and where Run's error arrives.
func (r *run) inRun(name string, p *plugin, ctx context.Context, cfg map[string]any) ([]int, <-chan error, bool) {
	if err := p.b.Prepare(cfg); err != nil {
		r.fail(name, "Prepare: %v", err)
		return nil, nil, false
	}
	ready := make(chan string, 1)
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- p.b.Run(ctx, nil, uiFunc(func(s string) { once.Do(func() { ready <- s }) }))
	}()
	select {
	case s := <-ready:
		var pids []int
		for _, f := range strings.Fields(strings.TrimPrefix(s, "ready ")) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			r.fail(name, "the plugin said %q, want ready and its pid", s)
			return nil, nil, false
		}
		return pids, errc, true
	case err := <-errc:
		r.fail(name, "Run returned %v before it was ready", err)
	case <-time.After(20 * time.Second):
		r.fail(name, "Run not ready within 20 s")
	}
	return nil, nil, false
}

// result waits up to d for Run's error.
func (r *run) result(name string, errc <-chan error, d time.Duration) (error, bool) {
	select {
	case err := <-errc:
		return err, true
	case <-time.After(d):
		r.fail(name, "Run still running %v after it should have returned", d)
		return nil, false
	}
}

// alive checks that the plugin still serves after an error it returned.
func (r *run) alive(name string, p *plugin) {
	if err := p.b.Prepare(map[string]any{}); err != nil || p.c.Exited() {
		r.fail(name, "the plugin does not serve any more: %v (exited %v)", err, p.c.Exited())
	}
}

func wantExited(r *run, name string, err error, texts ...string) {
	if !errors.Is(err, host.ErrProcessExited) {
		r.fail(name, "error %v, want one wrapping ErrProcessExited", err)
		return
	}
	for _, t := range texts {
		if !strings.Contains(err.Error(), t) {
			r.fail(name, "error %q does not say %q", err, t)
		}
	}
}

func scSay(r *run, rng *rand.Rand) {
	const name = "say"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	n := 1 + rng.IntN(300)
	if err := p.b.Prepare(map[string]any{"op": "say", "lines": n}); err != nil {
		r.fail(name, "Prepare: %v", err)
		return
	}
	var got []string
	var mu sync.Mutex
	err := p.b.Run(context.Background(), nil, uiFunc(func(s string) {
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
	}))
	if err != nil {
		r.fail(name, "Run: %v", err)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		r.fail(name, "%d Ui lines arrived, want %d", len(got), n)
	}
	for i, s := range got {
		if s != fmt.Sprintf("line %d", i) {
			r.fail(name, "Ui line %d is %q", i, s)
			break
		}
	}
	r.add("Ui lines delivered", len(got))
}

func scKillCleanup(r *run, rng *rand.Rand) {
	const name = "kill-during-cleanup"
	p, ok := r.start(name)
	if !ok {
		return
	}
	marker := filepath.Join(r.tmp, fmt.Sprintf("m%d", rng.Uint64()))
	teardown := time.Duration(rng.Int64N(int64(r.grace/2))) / time.Millisecond
	pids, errc, ok := r.inRun(name, p, context.Background(), map[string]any{"op": "cleanup", "marker": marker, "teardown_ms": int(teardown)})
	if !ok {
		p.c.Kill()
		return
	}
	r.mustBeGone(pids[0])
	r.time("Kill during a cleanup (grace 1s)", r.kill(name, p))
	if b, err := os.ReadFile(marker); err != nil || string(b) != context.Canceled.Error() {
		r.fail(name, "the plugin's cleanup did not run to the end: %q, %v", b, err)
	}
	if err, ok := r.result(name, errc, time.Second); ok {
		// The plugin's own answer when it got out before the connection
		// ended, else the host's account of the end.
		if !errors.Is(err, context.Canceled) || errors.Is(err, host.ErrProcessExited) {
			wantExited(r, name, err, "killed by the host (Client.Kill)")
		}
	}
}

func scCancel(r *run, rng *rand.Rand) {
	const name = "cancel"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	marker := filepath.Join(r.tmp, fmt.Sprintf("m%d", rng.Uint64()))
	_, errc, ok := r.inRun(name, p, ctx, map[string]any{"op": "cleanup", "marker": marker, "teardown_ms": rng.IntN(100)})
	if !ok {
		return
	}
	t0 := time.Now()
	cancel()
	err, ok := r.result(name, errc, 5*time.Second)
	if !ok {
		return
	}
	r.time("cancel to Run's return (incl. teardown)", time.Since(t0))
	if !errors.Is(err, context.Canceled) || errors.Is(err, host.ErrProcessExited) {
		r.fail(name, "Run after cancel: %v, want the plugin's context.Canceled", err)
	}
	r.alive(name, p)
}

func scDeadline(r *run, rng *rand.Rand) {
	const name = "deadline"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	deadline := time.Now().Add(time.Duration(50+rng.IntN(250)) * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	marker := filepath.Join(r.tmp, fmt.Sprintf("m%d", rng.Uint64()))
	if err := p.b.Prepare(map[string]any{"op": "cleanup", "marker": marker}); err != nil {
		r.fail(name, "Prepare: %v", err)
		return
	}
	err := p.b.Run(ctx, nil, uiFunc(func(string) {}))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, host.ErrProcessExited) {
		r.fail(name, "Run past its deadline: %v, want the plugin's context.DeadlineExceeded", err)
	}
	if b, _ := os.ReadFile(marker); string(b) != context.DeadlineExceeded.Error() {
		r.fail(name, "the plugin's ctx ended with %q, want %q", b, context.DeadlineExceeded)
	}
	r.alive(name, p)
}

func scSigkill(r *run, _ *rand.Rand) {
	const name = "sigkill"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	pids, errc, ok := r.inRun(name, p, context.Background(), map[string]any{"op": "ignore"})
	if !ok {
		return
	}
	t0 := time.Now()
	_ = syscall.Kill(pids[0], syscall.SIGKILL)
	if err, ok := r.result(name, errc, 2*time.Second); ok {
		r.time("call fails after the plugin's SIGKILL", time.Since(t0))
		wantExited(r, name, err, "signal: killed")
	}
}

func scSigstop(r *run, _ *rand.Rand) {
	const name = "sigstop-then-kill"
	p, ok := r.start(name)
	if !ok {
		return
	}
	pids, errc, ok := r.inRun(name, p, context.Background(), map[string]any{"op": "ignore"})
	if !ok {
		p.c.Kill()
		return
	}
	_ = syscall.Kill(pids[0], syscall.SIGSTOP)
	r.time("Kill of a SIGSTOPped plugin (grace 1s)", r.kill(name, p))
	if err, ok := r.result(name, errc, time.Second); ok {
		wantExited(r, name, err, "killed by the host (Client.Kill): it did not quit within", "signal: killed")
	}
}

func scCrash(r *run, _ *rand.Rand) {
	const name = "crash"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	_, errc, ok := r.inRun(name, p, context.Background(), map[string]any{"op": "crash"})
	if !ok {
		return
	}
	if err, ok := r.result(name, errc, 2*time.Second); ok {
		wantExited(r, name, err, "exit status 3", "crashing on purpose")
	}
}

func scPanic(r *run, _ *rand.Rand) {
	const name = "panic-goroutine"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	_, errc, ok := r.inRun(name, p, context.Background(), map[string]any{"op": "panic"})
	if !ok {
		return
	}
	if err, ok := r.result(name, errc, 2*time.Second); ok {
		wantExited(r, name, err, "exit status 2", "panic: soak plugin: panic in a goroutine")
	}
}

func scMethodPanic(r *run, _ *rand.Rand) {
	const name = "panic-method"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	if err := p.b.Prepare(map[string]any{"op": "method-panic"}); err != nil {
		r.fail(name, "Prepare: %v", err)
		return
	}
	err := p.b.Run(context.Background(), nil, nil)
	if !errors.Is(err, shared.ErrPanic) || !strings.Contains(err.Error(), "soak plugin: panic in Run") || errors.Is(err, host.ErrProcessExited) {
		r.fail(name, "Run: %v, want an error wrapping shared.ErrPanic with the panic value", err)
	}
	r.alive(name, p)
}

func scRemoteErr(r *run, _ *rand.Rand) {
	const name = "remote-error"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	if err := p.b.Prepare(map[string]any{"op": "remote-err"}); err != nil {
		r.fail(name, "Prepare: %v", err)
		return
	}
	err := p.b.Run(context.Background(), nil, nil)
	if err == nil || err.Error() != errRemote.Error() || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, host.ErrProcessExited) {
		r.fail(name, "Run: %v, want the plugin's %q as a value", err, errRemote)
	}
	r.alive(name, p)
}

func scFlood(r *run, rng *rand.Rand) {
	const name = "flood"
	p, ok := r.start(name)
	if !ok {
		return
	}
	size := (1 + rng.IntN(16)) * 64 * 128 * 8 // 64 KiB to 1 MiB
	if err := p.b.Prepare(map[string]any{"op": "flood", "bytes": size}); err != nil {
		r.fail(name, "Prepare: %v", err)
		p.c.Kill()
		return
	}
	if err := p.b.Run(context.Background(), nil, uiFunc(func(string) {})); err != nil {
		r.fail(name, "Run: %v", err)
	}
	r.kill(name, p) // the plugin's output is read to the end once it exits
	want := 2 * size / 128
	if got := p.lc.floods(); got != want {
		r.fail(name, "%d flood lines reached the host, want %d", got, want)
	}
	r.add("flood lines delivered", want)
}

func scGrandchild(r *run, _ *rand.Rand) {
	const name = "grandchild-forced"
	p, ok := r.start(name)
	if !ok {
		return
	}
	pids, errc, ok := r.inRun(name, p, context.Background(), map[string]any{"op": "grandchild"})
	if !ok || len(pids) != 2 {
		p.c.Kill()
		return
	}
	gc := proc{pid: pids[1], start: startTime(pids[1])}
	r.mustBeGone(pids[1])
	r.time("Kill with a grandchild (grace 1s)", r.kill(name, p))
	if !waitGone(gc, time.Second) {
		r.fail(name, "the plugin's grandchild %d outlived its forced kill", pids[1])
	}
	if err, ok := r.result(name, errc, time.Second); ok {
		// Forced by the host, or the plugin gave up on the method at
		// the end of its own grace period: either way the host killed it.
		wantExited(r, name, err, "killed by the host (Client.Kill)")
	}
}

func scReplyExit(r *run, rng *rand.Rand) {
	const name = "reply-then-exit"
	p, ok := r.start(name)
	if !ok {
		return
	}
	defer r.kill(name, p)
	n := 20 + rng.IntN(181)
	bs := []shared.Builder{p.b}
	for len(bs) < n {
		b, err := p.c.Builder()
		if err != nil {
			r.fail(name, "dispense: %v", err)
			return
		}
		bs = append(bs, b)
	}
	if err := p.b.Prepare(map[string]any{"op": "mark"}); err != nil {
		r.fail(name, "Prepare: %v", err)
		return
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() { errs[i] = b.Prepare(map[string]any{"op": "reply-exit", "n": n}) })
	}
	wg.Wait()
	lost := 0
	for _, err := range errs {
		if err != nil {
			lost++
		}
	}
	if lost > 0 {
		r.fail(name, "%d of %d replies written before the plugin exited were lost (first: %v)", lost, n, firstErr(errs))
	}
	r.add("replies written just before exit", n)
	r.add("replies lost", lost)
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// uiFunc is a shared.Ui that hands every message to a function.
type uiFunc func(string)

func (f uiFunc) Say(format string, a ...any)   { f(fmt.Sprintf(format, a...)) }
func (f uiFunc) Error(format string, a ...any) { f(fmt.Sprintf(format, a...)) }
