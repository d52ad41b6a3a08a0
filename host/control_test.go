package host_test

// Tests of a host in control of a start: Start(ctx), the errors a host
// tells apart, small port ranges, the registry, the level of plain stderr
// lines.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
)

func init() {
	// mute prints an address and accepts the host's connection, then
	// never says anything: a start stuck in the handshake.
	moreHelpers["mute"] = func() int {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 1
		}
		fmt.Println(ln.Addr())
		for {
			conn, err := ln.Accept()
			if err != nil {
				return 1
			}
			helperLogger().Info("mute: accepted")
			defer conn.Close()
		}
	}
	// answer-then-exit completes the handshake and exits at once, while
	// the host opens go-plugin's session on the connection.
	moreHelpers["answer-then-exit"] = func() int {
		secret, err := wire.ParseSecret(os.Getenv(wire.EnvSecret))
		if err != nil {
			return 1
		}
		ln, err := wire.Listen(1024, 65535)
		if err != nil {
			return 1
		}
		fmt.Println(ln.Addr())
		if _, err := wire.AcceptHost(ln, secret, time.Now().Add(30*time.Second), nil); err != nil {
			return 1
		}
		fmt.Fprintln(os.Stderr, "helper: answered the handshake, leaving")
		return 3
	}
}

// startPhases are starts that hang in each phase a cancel can hit: a
// program that is no plugin and never prints (sleep; /bin/cat given a
// stdin that never ends), a plugin that prints nothing, and one that
// accepts the connection and never answers. Each start has a Config.Stdin
// whose Read never returns, which must not hold the start or Kill.
var startPhases = []struct {
	name string
	cmd  func() *exec.Cmd
}{
	{"sleep", func() *exec.Cmd { return exec.Command("sleep", "60") }},
	{"cat", func() *exec.Cmd { return exec.Command("cat") }},
	{"no address", func() *exec.Cmd { return helperCmd("silent") }},
	{"handshake", func() *exec.Cmd { return helperCmd("mute") }},
}

// Cancelling Start's context ends the start at once in every phase: the
// process is killed and reaped, and the error wraps ctx.Err(). So does
// its deadline. A later Start or Dispense returns the same error.
func TestStartCancel(t *testing.T) {
	t.Parallel()
	for _, ph := range startPhases {
		for _, how := range []string{"cancel", "deadline"} {
			t.Run(ph.name+"/"+how, func(t *testing.T) {
				t.Parallel()
				logger, sink := testLogger(hclog.Trace)
				cmd := ph.cmd()
				if cmd.Err != nil { // sleep and cat are Unix programs
					t.Skipf("no %s here: %v", ph.name, cmd.Err)
				}
				stdin, feed := io.Pipe()
				defer feed.Close()
				c := host.NewClient(&host.Config{Cmd: cmd, Logger: logger, Stdin: stdin})
				defer c.Kill()
				var ctx context.Context
				var cancel context.CancelFunc
				if how == "cancel" {
					ctx, cancel = context.WithCancel(context.Background())
				} else {
					ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
				}
				defer cancel()
				errc := make(chan error, 1)
				go func() { errc <- c.Start(ctx) }()
				// Cancel once the start is in the phase under test. (A
				// deadline ends the start wherever it is by then.)
				var t0 time.Time
				if how == "cancel" {
					phaseEntry := map[string]string{"sleep": "plugin started", "cat": "plugin started", "no address": helperPidMsg, "handshake": "mute: accepted"}
					sink.waitFor(t, 10*time.Second, "the start in its phase", msgIs(phaseEntry[ph.name]))
					t0 = time.Now()
					cancel()
				}
				var err error
				select {
				case err = <-errc:
				case <-time.After(10 * time.Second):
					t.Fatal("Start still running 10 s after its context ended")
				}
				if how == "cancel" {
					t.Logf("Start returned %v after cancel", time.Since(t0))
				}
				if !errors.Is(err, ctx.Err()) {
					t.Fatalf("Start error %v, want one wrapping %v", err, ctx.Err())
				}
				if errors.Is(err, host.ErrStartTimeout) || errors.Is(err, host.ErrProcessExited) {
					t.Errorf("Start error %v also wraps ErrStartTimeout or ErrProcessExited", err)
				}
				if !c.Exited() {
					t.Error("Exited() is false after a cancelled start")
				}
				started := sink.waitFor(t, time.Second, "the start's entry", msgIs("plugin started"))
				assertReaped(t, int(started["pid"].(float64)))
				if err2 := c.Start(context.Background()); err2 != err {
					t.Errorf("second Start = %v, want the first start's %v", err2, err)
				}
				if _, err2 := c.Builder(); err2 != err {
					t.Errorf("Builder after the failed Start = %v, want %v", err2, err)
				}
			})
		}
	}
}

// Start completes the handshake; a second Start and Dispense use that
// process; Start after a Dispense started the client waits for the answer
// and returns nil; a waiting Start's own ctx ends only its wait.
func TestStartThenDispense(t *testing.T) {
	t.Parallel()
	t.Run("start first", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve")
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		pid := p.pid(t)
		if err := p.Start(context.Background()); err != nil {
			t.Errorf("second Start = %v", err)
		}
		cmd, err := p.Command()
		if err != nil {
			t.Fatal(err)
		}
		if s := cmd.Synopsis(); s != "a test command" {
			t.Errorf("Synopsis = %q", s)
		}
		if n := len(p.log.find(msgIs("plugin started"))); n != 1 {
			t.Errorf("%d processes started, want 1", n)
		}
		if p.pid(t) != pid {
			t.Error("Dispense after Start used another process")
		}
	})
	t.Run("dispense first", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve")
		if _, err := p.Builder(); err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			t.Errorf("Start after Dispense = %v", err)
		}
	})
	t.Run("waiting start cancelled", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "slow", envDelay+"=500ms")
		first := make(chan error, 1)
		go func() { first <- p.Start(context.Background()) }()
		p.pid(t) // the first start is under way
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Start(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Start with a cancelled ctx during another start = %v, want context.Canceled", err)
		}
		if err := <-first; err != nil {
			t.Errorf("first Start = %v, want success: another caller's ctx must not end it", err)
		}
	})
	t.Run("kill during start", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "silent")
		errc := make(chan error, 1)
		go func() { errc <- p.Start(context.Background()) }()
		pid := p.pid(t)
		within(t, 2*time.Second, "Kill during Start", p.Kill)
		err := <-errc
		if !errors.Is(err, host.ErrProcessExited) {
			t.Errorf("Start ended by Kill = %v, want ErrProcessExited", err)
		}
		assertReaped(t, pid)
	})
	t.Run("nil context", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, nil, "serve")
		//lint:ignore SA1012 the test passes nil on purpose
		if err := p.Start(nil); err == nil || !strings.Contains(err.Error(), "Start(nil)") {
			t.Errorf("Start(nil) = %v, want an error naming it", err)
		}
	})
}

// A full port range makes the host start the plugin again after a short
// randomised back-off: many plugins started at once on a 3-port range all
// start, and each call works. Each plugin holds its port only from its
// announcement to its host's connection.
func TestSmallPortRange(t *testing.T) {
	t.Parallel()
	const n = 12
	first := freePorts(t, 3, 31500)
	var retries atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		logger, sink := testLogger(hclog.Trace)
		c := host.NewClient(&host.Config{
			Cmd:     helperCmd("serve"),
			Logger:  logger,
			MinPort: first, MaxPort: first + 2,
			StartTimeout: 30 * time.Second,
		})
		t.Cleanup(c.Kill)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				retries.Add(int64(len(sink.find(msgIs("plugin found its port range full; starting it again")))))
			}()
			if err := c.Start(context.Background()); err != nil {
				t.Errorf("plugin %d: Start: %v", i, err)
				return
			}
			cmd, err := c.Command()
			if err != nil {
				t.Errorf("plugin %d: Command: %v", i, err)
				return
			}
			if s, err := cmd.(interface{ SynopsisErr() (string, error) }).SynopsisErr(); err != nil || s != "a test command" {
				t.Errorf("plugin %d: Synopsis = %q, %v", i, s, err)
			}
		}()
	}
	awaitAll(t, &wg, 60*time.Second, fmt.Sprintf("%d starts on a 3-port range", n))
	t.Logf("%d plugins on 3 ports: %d restarts after a full range", n, retries.Load())
}

// A range that stays full fails with ErrNoFreePort once StartTimeout has
// passed, after several attempts, and leaves no process behind.
func TestNoFreePort(t *testing.T) {
	t.Parallel()
	port := occupy(t, 1, 31600)
	// Long enough for two starts of a race-instrumented helper on a
	// loaded machine: the range must be seen full, then the plugin
	// started again.
	timeout := testutil.Slack(5 * time.Second)
	logger, sink := testLogger(hclog.Trace)
	cmd := helperCmd("serve")
	c := host.NewClient(&host.Config{Cmd: cmd, Logger: logger, MinPort: port, MaxPort: port, StartTimeout: timeout})
	defer c.Kill()
	t0 := time.Now()
	err := c.Start(context.Background())
	took := time.Since(t0)
	if !errors.Is(err, host.ErrNoFreePort) {
		t.Fatalf("Start on a taken range = %v, want ErrNoFreePort", err)
	}
	if errors.Is(err, host.ErrStartTimeout) || errors.Is(err, host.ErrProcessExited) {
		t.Errorf("Start error %v also wraps ErrStartTimeout or ErrProcessExited", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%d-%d", port, port)) {
		t.Errorf("error %q does not name the range", err)
	}
	if took > timeout+testutil.Slack(5*time.Second) {
		t.Errorf("Start took %v, want about StartTimeout %v", took, timeout)
	}
	restarts := len(sink.find(msgIs("plugin found its port range full; starting it again")))
	if restarts < 1 {
		t.Errorf("%d restarts within %v, want the plugin started again", restarts, timeout)
	}
	t.Logf("a full range: %d restarts, ErrNoFreePort after %v", restarts, took)
	// Every process started was reaped by the host. Windows hands a pid
	// to a new process at once (Wine too), so there only the host's own
	// word is checked, not whether some process has the pid now. The host
	// logs an exit just after it lets Start see it, so the last process's
	// line may come after Start returned: it is waited for.
	for _, e := range sink.find(msgIs("plugin started")) {
		pid, _ := e["pid"].(float64)
		sink.waitFor(t, 5*time.Second, fmt.Sprintf("saying process %d exited", int(pid)), func(e entry) bool {
			p, _ := e["pid"].(float64)
			return e.msg() == "plugin exited" && p == pid
		})
		if runtime.GOOS != "windows" {
			assertReaped(t, int(pid))
		}
	}
	if !c.Exited() {
		t.Error("Exited() is false")
	}
}

// freePorts finds n consecutive free ports from base, below the ephemeral
// range, and returns the first. They are free when it returns, not held.
func freePorts(t *testing.T, n, base int) int {
	t.Helper()
	for first := base; first+n <= 32768; first += n {
		ok := true
		for p := first; p < first+n && ok; p++ {
			ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				continue
			}
			_ = ln.Close()
		}
		if ok {
			return first
		}
	}
	t.Fatalf("found no %d free consecutive ports", n)
	return 0
}

// A plugin that answers the handshake and exits at once, while the host
// opens go-plugin's session or sends the first Dispense, fails the start
// with ErrProcessExited and its exit status, every time.
func TestExitDuringSessionOpen(t *testing.T) {
	t.Parallel()
	const n = 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	texts := map[string]int{}
	sem := make(chan struct{}, 4)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := host.NewClient(&host.Config{Cmd: helperCmd("answer-then-exit"), Logger: hclog.NewNullLogger()})
			defer c.Kill()
			_, err := c.Builder()
			if !errors.Is(err, host.ErrProcessExited) || !strings.Contains(err.Error(), "exit status 3") {
				t.Errorf("Builder() from a plugin that exits after answering = %v, want ErrProcessExited with exit status 3", err)
				return
			}
			text := err.Error()
			kind := "before the session"
			switch {
			case strings.Contains(text, "the call failed with"):
				kind = "during Dispense"
			}
			mu.Lock()
			texts[kind]++
			mu.Unlock()
		}()
	}
	awaitAll(t, &wg, 120*time.Second, "the starts")
	t.Logf("failures by moment: %v", texts)
}

// A plugin killed (SIGKILL, from outside) at a random moment of its start
// makes the start fail with ErrProcessExited saying it was killed, or
// succeed: never another error. Under Wine 2 starts in 120 used to end at
// the 10 s answer timeout: the host waited in the handshake on a
// connection that neither answered nor closed after its plugin had died
// (TestPluginDiesDuringHandshake shows that wait, and that it now ends
// with the plugin's exit).
func TestKilledDuringStart(t *testing.T) {
	t.Parallel()
	const n = 120
	var wg sync.WaitGroup
	var failed, ok atomic.Int64
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			logger, sink := testLogger(hclog.Trace)
			c := host.NewClient(&host.Config{Cmd: helperCmd("serve"), Logger: logger})
			defer c.Kill()
			errc := make(chan error, 1)
			go func() {
				_, err := c.Builder()
				errc <- err
			}()
			e := sink.waitFor(t, 20*time.Second, "helper's pid", msgIs(helperPidMsg))
			pid := int(e["pid"].(float64))
			// Spread the kills over the start: from at once to 20 ms.
			time.Sleep(time.Duration(i%40) * 500 * time.Microsecond) // the moment of the fault, not synchronisation
			_ = killPid(pid)
			err := <-errc
			if err == nil {
				ok.Add(1)
				return
			}
			failed.Add(1)
			if !errors.Is(err, host.ErrProcessExited) || !strings.Contains(err.Error(), killedStatus) {
				t.Errorf("start killed from outside = %v, want ErrProcessExited saying it was killed; log:\n%s", err, sink.dump())
			}
		}()
	}
	awaitAll(t, &wg, 180*time.Second, "the starts")
	t.Logf("%d starts killed at random moments: %d failed (all ErrProcessExited), %d completed first", n, failed.Load(), ok.Load())
}

// StderrLevel sets the level of plain stderr lines; lines that say their
// level keep it.
func TestStderrLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set  hclog.Level
		want string
	}{
		{hclog.NoLevel, "debug"},
		{hclog.Info, "info"},
		{hclog.Warn, "warn"},
	} {
		t.Run(tc.set.String(), func(t *testing.T) {
			t.Parallel()
			logger, sink := testLogger(hclog.Trace)
			p := newPlug(t, &host.Config{Logger: logger, StderrLevel: tc.set}, "serve")
			b := preparedBuilder(t, p, map[string]any{"run": "log"})
			if err := b.Run(context.Background(), nil, uiFunc(func(string) {})); err != nil {
				t.Fatal(err)
			}
			sink.waitFor(t, 5*time.Second, "the last stderr line", msgIs("the last line"))
			for msg, level := range map[string]string{
				"a plain line":    tc.want,
				"a plain warning": "warn",
				"debug entry":     "debug",
				"the last line":   "error",
			} {
				got := sink.find(msgIs(msg))
				if len(got) != 1 || got[0].level() != level {
					t.Errorf("%q logged as %v, want once at %s", msg, got, level)
				}
			}
		})
	}
}

func init() {
	// impostor takes the host's connection like a plugin but does not
	// know the secret: a process that took the port of a plugin that died.
	moreHelpers["impostor"] = func() int {
		return fakeAnswer(wire.ProtocolVersion, func(_ wire.Secret, g, i, p []byte) []byte {
			return wire.Answer(wire.Secret{}, wire.StatusOK, g, i, p)
		})
	}
	// future speaks protocol 99.
	moreHelpers["future"] = func() int {
		return fakeAnswer(99, func(s wire.Secret, g, i, p []byte) []byte { return wire.Answer(s, wire.StatusOK, g, i, p) })
	}
}

// fakeAnswer announces a port like a plugin, greets the host with
// version, reads its intro and proof and answers with answer, then waits
// for the lifeline.
func fakeAnswer(version uint32, answer func(s wire.Secret, greeting, intro, proof []byte) []byte) int {
	secret, err := wire.ParseSecret(os.Getenv(wire.EnvSecret))
	if err != nil {
		return 1
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	fmt.Println(ln.Addr())
	conn, err := ln.Accept()
	if err != nil {
		return 1
	}
	g, err := wire.Greeting(version)
	if err != nil {
		return 1
	}
	_, _ = conn.Write(g)
	msg := make([]byte, wire.IntroSize+wire.ProofSize)
	if _, err := io.ReadFull(conn, msg); err == nil {
		_, _ = conn.Write(answer(secret, g, msg[:wire.IntroSize], msg[wire.IntroSize:]))
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// sentinels are the errors a host tells apart.
var sentinels = []struct {
	name string
	err  error
}{
	{"ErrStartTimeout", host.ErrStartTimeout},
	{"ErrProcessExited", host.ErrProcessExited},
	{"ErrNotPlugin", host.ErrNotPlugin},
	{"ErrNoFreePort", host.ErrNoFreePort},
	{"ErrHandshake", host.ErrHandshake},
	{"ErrVersionMismatch", host.ErrVersionMismatch},
	{"context.Canceled", context.Canceled},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
}

// Each way a start fails gives an error for which errors.Is holds for its
// sentinel and for no other, with a text that says what happened.
func TestStartErrorsIs(t *testing.T) {
	t.Parallel()
	busy := occupy(t, 1, 31700)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		cmd    func() *exec.Cmd
		cfg    host.Config
		ctx    func() context.Context
		before func(c *host.Client) // e.g. Kill before Start
		want   error
		text   string
	}{
		{name: "silent plugin", cmd: func() *exec.Cmd { return helperCmd("silent") }, cfg: host.Config{StartTimeout: 300 * time.Millisecond},
			want: host.ErrStartTimeout, text: "printed no address line within 300ms"},
		{name: "exits before its address", cmd: func() *exec.Cmd { return helperCmd("exit-before-address") },
			want: host.ErrProcessExited, text: "exit status 3"},
		{name: "true", cmd: trueCmd,
			want: host.ErrProcessExited, text: "exit status 0"},
		{name: "killed before start", cmd: func() *exec.Cmd { return helperCmd("serve") }, before: (*host.Client).Kill,
			want: host.ErrProcessExited, text: "killed by Client.Kill"},
		{name: "not an address", cmd: func() *exec.Cmd { return helperCmd("line", envLine+"="+strconv.Quote("hello, I am a plugin\n")) },
			want: host.ErrNotPlugin, text: `"hello, I am a plugin"`},
		{name: "echo", cmd: func() *exec.Cmd { return helperCmd("echo", envLine+"="+strconv.Quote("hello\n")) },
			want: host.ErrNotPlugin, text: `"hello"`},
		{name: "range taken", cmd: func() *exec.Cmd { return helperCmd("serve") }, cfg: host.Config{MinPort: busy, MaxPort: busy, StartTimeout: testutil.Slack(5 * time.Second)},
			want: host.ErrNoFreePort, text: fmt.Sprintf("%d-%d", busy, busy)},
		{name: "range taken, stdin a reader", cmd: func() *exec.Cmd { return helperCmd("serve") },
			cfg:  host.Config{MinPort: busy, MaxPort: busy, StartTimeout: time.Minute, Stdin: strings.NewReader("input")},
			want: host.ErrNoFreePort, text: "not started again"},
		{name: "impostor", cmd: func() *exec.Cmd { return helperCmd("impostor") },
			want: host.ErrHandshake, text: "did not prove this launch's secret"},
		{name: "other version", cmd: func() *exec.Cmd { return helperCmd("future") },
			want: host.ErrVersionMismatch, text: fmt.Sprintf("plugin speaks plugwire protocol 99, this host speaks %d", wire.ProtocolVersion)},
		{name: "cancelled", cmd: func() *exec.Cmd { return helperCmd("serve") }, ctx: func() context.Context { return cancelled },
			want: context.Canceled, text: "context canceled"},
		{name: "deadline", cmd: func() *exec.Cmd { return helperCmd("sleep") }, ctx: func() context.Context { return deadlineIn(t, 200*time.Millisecond) },
			want: context.DeadlineExceeded, text: "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.Cmd = tc.cmd()
			var sink *logSink
			cfg.Logger, sink = testLogger(hclog.Debug)
			c := host.NewClient(&cfg)
			defer c.Kill()
			if tc.before != nil {
				tc.before(c)
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			err := c.Start(ctx)
			for _, s := range sentinels {
				if got, want := errors.Is(err, s.err), s.err == tc.want; got != want {
					t.Errorf("errors.Is(%v, %s) = %v, want %v", err, s.name, got, want)
				}
			}
			if err != nil && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
			if len(sink.find(msgIs("plugin started"))) > 0 && !c.Exited() {
				t.Error("the process still runs after a failed start")
			}
		})
	}
}

// deadlineIn is a context whose deadline is d from now.
func deadlineIn(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// The registry behind CleanupClients keeps only clients that may have a
// live process: thousands of clients whose start failed, never killed,
// leave nothing in it and are garbage collected; a client whose process
// exited, or that was killed, leaves it too.
func TestRegistryDoesNotGrow(t *testing.T) {
	t.Parallel()
	const n = 3000
	var alive atomic.Int64
	for i := range n {
		cmd := exec.Command("/nonexistent/plugin")
		if i%100 == 0 {
			// A real process that exits at once: 30 of them, as a
			// process start costs a quarter of a second under Wine.
			cmd = trueCmd()
		}
		c := host.NewClient(&host.Config{Cmd: cmd, Logger: hclog.NewNullLogger()})
		alive.Add(1)
		runtime.AddCleanup(c, func(*atomic.Int64) { alive.Add(-1) }, &alive)
		if _, err := c.Builder(); err == nil {
			t.Fatalf("client %d started", i)
		}
		if host.Registered(c) {
			t.Fatalf("client %d, whose start failed, is still registered", i)
		}
	}
	// The clients above are unreachable now: the registry must not keep them.
	for range 20 {
		runtime.GC()
		if alive.Load() < n/100 {
			break
		}
		time.Sleep(10 * time.Millisecond) // let cleanups run
	}
	if left := alive.Load(); left >= n/100 {
		t.Errorf("%d of %d failed clients are still reachable after GC", left, n)
	}

	exits := newPlug(t, nil, "serve")
	b := preparedBuilder(t, exits, map[string]any{"run": "exit"})
	if !host.Registered(exits.Client) {
		t.Error("a started client is not registered")
	}
	_ = b.Run(context.Background(), nil, nil)
	if !exits.Exited() {
		t.Fatal("the plugin did not exit")
	}
	if host.Registered(exits.Client) {
		t.Error("a client whose process exited is still registered")
	}

	killed := newPlug(t, nil, "serve")
	if err := killed.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	killed.Kill()
	if host.Registered(killed.Client) {
		t.Error("a killed client is still registered")
	}
}

// CleanupClients also stops a client made before it and started after it:
// such a client is not in the registry (it has no process), yet a host's
// exit path must not leave it free to start one. A client made after
// CleanupClients starts as usual. It calls CleanupClients, so it does not
// run in parallel with other tests.
func TestCleanupClientsStopsLaterStarts(t *testing.T) {
	before := newPlug(t, nil, "serve")
	host.CleanupClients()
	err := before.Start(context.Background())
	if !errors.Is(err, host.ErrProcessExited) || !strings.Contains(err.Error(), "before it started") {
		t.Errorf("Start of a client made before CleanupClients = %v, want ErrProcessExited: killed before it started", err)
	}
	if before.Exited() {
		t.Error("a client that never started reports an exited process")
	}
	after := newPlug(t, nil, "serve")
	if err := after.Start(context.Background()); err != nil {
		t.Errorf("Start of a client made after CleanupClients = %v", err)
	}
}
