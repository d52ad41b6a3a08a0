package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// hostHelperGrace is the KillGrace of the "host" helper's client, which
// the plugin also gets when its host dies.
const hostHelperGrace = time.Second

// teardownTime is how long the "cleanup" builder's teardown works.
const teardownTime = 300 * time.Millisecond

// teardown stands for a builder deleting its VM once its ctx is done: it
// works for teardownTime, then writes why it ran into marker.
func teardown(marker string, why error) {
	time.Sleep(teardownTime) // the work of deleting a VM
	if marker != "" {
		_ = os.WriteFile(marker, []byte(why.Error()), 0o600)
	}
	helperLogger().Info("teardown finished", "why", why.Error())
}

// spawnSleep starts a `sleep 300` the plugin does not wait for, says its
// pid, and ignores ctx: only a forced kill of the tree ends both.
func spawnSleep(ui shared.Ui) error {
	cmd := helperCmd("sleep") // a child that sleeps, as `sleep 300` would
	if err := cmd.Start(); err != nil {
		return err
	}
	ui.Say("%d", cmd.Process.Pid)
	time.Sleep(time.Hour)
	return nil
}

// runInFlight starts b.Run in a goroutine and waits until the plugin's Run
// has said something through the Ui; the first message is returned, with
// the channel Run's error arrives on.
func runInFlight(t *testing.T, ctx context.Context, b shared.Builder) (string, <-chan error) {
	t.Helper()
	said := make(chan string, 1)
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- b.Run(ctx, nil, uiFunc(func(s string) { once.Do(func() { said <- s }) }))
	}()
	select {
	case s := <-said:
		return s, errc
	case err := <-errc:
		t.Fatalf("Run returned %v before saying anything", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not reach the plugin within 10 s")
	}
	return "", nil
}

// Kill during a Run that cleans up on ctx: the plugin's ctx is cancelled at
// once, its teardown runs to the end, the plugin exits on its own (so Kill
// returns as soon as it has, not at the end of the grace period), and the
// error says the host killed it.
func TestKillLetsRunCleanUp(t *testing.T) {
	t.Parallel()
	const grace = 3 * time.Second
	marker := filepath.Join(testutil.TempDir(t), "torn-down")
	p := newPlug(t, &host.Config{KillGrace: grace}, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "cleanup", "marker": marker})
	_, errc := runInFlight(t, context.Background(), b)
	pid := p.pid(t)
	took := within(t, grace+time.Second, "Kill of a plugin cleaning up", p.Kill)
	if took < teardownTime {
		t.Errorf("Kill returned after %v, before the plugin's teardown (%v) could finish", took, teardownTime)
	}
	if took >= grace {
		t.Errorf("Kill took %v: it waited for the grace period (%v) although the plugin quit", took, grace)
	}
	got, err := os.ReadFile(marker)
	if err != nil || string(got) != context.Canceled.Error() {
		t.Errorf("teardown marker: %q, %v; want the teardown to have run on %q", got, err, context.Canceled)
	}
	p.log.waitFor(t, time.Second, "from the plugin's teardown", msgIs("teardown finished"))
	select {
	case err := <-errc:
		wantKilledRun(t, err, "killed by the host (Client.Kill); exit status 0")
	case <-time.After(testutil.Slack(time.Second)):
		t.Fatal("Run still in flight after Kill returned")
	}
	assertReaped(t, pid)
}

// Kill ends the plugin's whole process tree: the `sleep 300` a method
// that ignores its ctx started is gone too, whether the host forced the
// plugin after KillGrace or the plugin gave up on the method at the end of
// its own grace period and exited, and the error says who ended it.
func TestKillEndsTree(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		grace  time.Duration
		env    string
		status string
	}{
		{"forced", 300 * time.Millisecond, envStubborn + "=1", "killed by the host (Client.Kill): it did not quit within Config.KillGrace (300ms); " + killedStatus},
		{"plugin gave up", 5 * time.Second, envPluginGrace + "=200ms", "killed by the host (Client.Kill); exit status 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			killTree(t, tc.grace, tc.env, tc.status)
		})
	}
}

func killTree(t *testing.T, grace time.Duration, env, status string) {
	p := newPlug(t, &host.Config{KillGrace: grace}, "serve", env)
	b := preparedBuilder(t, p, map[string]any{"run": "spawn-sleep"})
	said, errc := runInFlight(t, context.Background(), b)
	var sleepPid int
	if _, err := fmt.Sscan(said, &sleepPid); err != nil || sleepPid <= 0 {
		t.Fatalf("the plugin said %q, want the pid of its sleep", said)
	}
	t.Cleanup(func() { _ = killPid(sleepPid) })
	pid := p.pid(t)
	within(t, grace+time.Second, "Kill", p.Kill)
	if !waitGone(sleepPid, testutil.Slack(time.Second)) {
		t.Errorf("the plugin's child %d (sleep 300) outlived the Kill", sleepPid)
	}
	select {
	case err := <-errc:
		wantExited(t, "Run in flight during Kill", err, status)
	case <-time.After(testutil.Slack(time.Second)):
		t.Fatal("Run still in flight after Kill returned")
	}
	assertReaped(t, pid)
}

// The deadline of the caller's ctx crosses: the plugin's ctx has the same
// deadline, and when it passes both sides see context.DeadlineExceeded
// (not Canceled), and the plugin is not taken for dead.
func TestDeadlineCrosses(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "deadline"})
	deadline := time.Now().Add(testutil.Slack(500 * time.Millisecond))
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	said, errc := runInFlight(t, ctx, b)
	got, err := time.Parse(time.RFC3339Nano, said)
	if err != nil {
		t.Fatalf("the plugin said %q, want its ctx's deadline", said)
	}
	if !got.Equal(deadline) {
		t.Errorf("the plugin's ctx.Deadline() = %v, want the host's %v", got, deadline)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want the plugin's ctx.Err() wrapping context.DeadlineExceeded", err)
		}
		if errors.Is(err, host.ErrProcessExited) {
			t.Errorf("Run returned %v, wrapping ErrProcessExited", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after its deadline")
	}
	if err := b.Prepare(map[string]any{}); err != nil || p.Exited() {
		t.Errorf("Prepare after the deadline: %v (exited: %v)", err, p.Exited())
	}
}

// lateUi is, in a helper, the Ui of a Run that has returned.
var lateUi shared.Ui

// prepared counts, in a helper, the Prepares of "exit-after-replies" that
// returned.
var prepared atomic.Int64

// exitAfterReplies is deferred by Prepare: once n Prepares have returned
// and their replies have been written, the plugin exits at once.
func exitAfterReplies(n int64) {
	if prepared.Add(1) != n {
		return
	}
	go func() {
		for callsInFlight() {
			runtime.Gosched() // polling a real condition
		}
		os.Exit(0)
	}()
}

// callsInFlight reports whether a net/rpc call is being served: a method
// running or its reply being written (net/rpc's (*service).call writes
// the reply before it returns).
func callsInFlight() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Contains(string(buf), "\nnet/rpc.(*service).call(")
}

// A plugin that replies and exits at once: every reply it wrote before it
// exited reaches its caller. Each of n builders (a stream each) is
// prepared at once; the plugin exits as soon as the last reply is written
// to the connection. (With the RSTs muxconn once forged at the end of a
// connection, 581 and 595 of 600 arrived in two runs.)
func TestRepliesBeforeExitArrive(t *testing.T) {
	t.Parallel()
	const n, rounds = 200, 3
	var ok, exited int
	for range rounds {
		p := newPlug(t, nil, "serve")
		bs := make([]shared.Builder, n)
		for i := range bs {
			b, err := p.Builder()
			if err != nil {
				t.Fatal(err)
			}
			bs[i] = b
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, b := range bs {
			wg.Go(func() { errs[i] = b.Prepare(map[string]any{"prepare": "exit-after-replies", "n": n}) })
		}
		awaitAll(t, &wg, 10*time.Second, "every Prepare")
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, host.ErrProcessExited):
				exited++
			default:
				t.Errorf("Prepare: %v", err)
			}
		}
		p.Kill()
	}
	t.Logf("%d of %d replies arrived; %d calls ended with the plugin", ok, n*rounds, exited)
	if ok != n*rounds {
		t.Errorf("%d of %d replies the plugin wrote before it exited were lost", n*rounds-ok, n*rounds)
	}
}

// A Ui call a plugin makes when nobody can receive it any more (here:
// after the Run that got the Ui returned) does not block, and is logged on
// the plugin's stderr at Warn with its text, which reaches the host's log.
func TestLateUiIsLogged(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "keep-ui"})
	if err := b.Run(context.Background(), nil, uiFunc(func(s string) { t.Errorf("the host's Ui got %q after Run returned", s) })); err != nil {
		t.Fatal(err)
	}
	within(t, 2*time.Second, "a Prepare whose Ui.Say nobody receives", func() {
		if err := b.Prepare(map[string]any{"prepare": "say-late"}); err != nil {
			t.Errorf("Prepare: %v", err)
		}
	})
	e := p.log.waitFor(t, 5*time.Second, "for the late Ui.Say", msgIs("Ui.Say not delivered"))
	if e.level() != "warn" || e.str("text") != "said too late" || e.str("error") == "" {
		t.Errorf("late Ui.Say logged as %v, want at warn with its text and the error", e)
	}
}

// deadlineBuild is a host Build whose Run records its ctx's deadline and
// how its ctx ended.
type deadlineBuild struct {
	deadline time.Time
	err      error
}

func (b *deadlineBuild) Prepare() error { return nil }

func (b *deadlineBuild) Run(ctx context.Context, _ shared.Ui) error {
	b.deadline, _ = ctx.Deadline()
	<-ctx.Done()
	b.err = ctx.Err()
	return ctx.Err()
}

// The other way: a deadline the plugin puts on a callback crosses to the
// host's method, and both sides see context.DeadlineExceeded.
func TestDeadlineCrossesBack(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "deadline-callback"})
	build := &deadlineBuild{}
	var said string
	err := b.Run(context.Background(), build, uiFunc(func(s string) { said = s }))
	want, perr := time.Parse(time.RFC3339Nano, said)
	if perr != nil {
		t.Fatalf("the plugin said %q, want its deadline (Run: %v)", said, err)
	}
	if !build.deadline.Equal(want) {
		t.Errorf("the host's ctx.Deadline() = %v, want the plugin's %v", build.deadline, want)
	}
	if build.err != context.DeadlineExceeded {
		t.Errorf("the host's ctx ended with %v, want context.DeadlineExceeded", build.err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, host.ErrProcessExited) {
		t.Errorf("Run returned %v, want the plugin's error wrapping context.DeadlineExceeded", err)
	}
}

// slowStdout is a Config.Stdout that takes a while over every line, as a
// host short of CPU does, and counts the lines.
type slowStdout struct {
	mu    sync.Mutex
	lines int
	last  string
}

func (s *slowStdout) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond) // a slow consumer, not synchronisation
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines++
	s.last = strings.TrimSpace(string(p))
	return len(p), nil
}

// What a plugin wrote on stdout before it exited reaches the host whole,
// however long the host takes to read it: here the 64 KiB a pipe holds,
// left in it at the exit, take the host over half a second (with
// os/exec's WaitDelay of 500 ms, 65 of 1537 lines were lost).
func TestOutputBeforeExitArrives(t *testing.T) {
	t.Parallel()
	const size = 192 << 10 // 1536 lines of 128 bytes
	out := &slowStdout{}
	p := newPlug(t, &host.Config{Stdout: out}, "serve", envFloodSize+"=196608")
	b := preparedBuilder(t, p, map[string]any{"run": "flood-exit"})
	err := b.Run(context.Background(), nil, nil)
	wantExited(t, "Run of a plugin that exits", err, "exit status 0")
	out.mu.Lock()
	defer out.mu.Unlock()
	if want := size/128 + 1; out.lines != want || out.last != "[INFO] flood done" {
		t.Errorf("%d stdout lines reached the host, the last %q; want %d, the last \"[INFO] flood done\"", out.lines, out.last, want)
	}
}

// wantKilledRun checks the error of a Run, honouring its ctx, that was in
// flight during Kill: the plugin's own answer (its ctx was cancelled) when
// it got out before the connection ended, or else an error wrapping
// ErrProcessExited with status.
func wantKilledRun(t *testing.T, err error, status string) {
	t.Helper()
	if errors.Is(err, context.Canceled) && !errors.Is(err, host.ErrProcessExited) {
		return
	}
	wantExited(t, "Run in flight during Kill", err, status)
}
