//go:build unix

package plugwire_test

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// yamuxKeepalive is how long yamux takes to end a session whose peer does
// not answer: a ping every 30 s, each answered within 10 s (its defaults,
// which go-plugin does not let anyone change).
const yamuxKeepalive = 30*time.Second + 10*time.Second

// ownProcessGroup starts cmd in a process group of its own, as a
// precaution: a stopped process in the test's own group would be continued
// by the kernel (SIGHUP, then SIGCONT) if that group became orphaned. It
// was not the cause of the early returns once blamed on it (see stopSelf).
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// stopSelf stops this process, as a debugger's breakpoint does, and
// returns once it has been continued (SIGCONT).
//
// kill(getpid(), SIGSTOP) alone is not that: the signal goes to the
// process, the kernel has another thread take it, and the calling thread
// runs on until the group stop reaches it. That was the "stray SIGCONT"
// that ended the 45 s pause at 0.07 s in CI: no SIGCONT was sent (a trace
// of signal:signal_generate over full runs shows every SIGCONT to the
// debug plugin coming from this test, 45 s after its stop), Run said
// "resumed" and returned before the stop took hold. The same trace shows
// the plugin stopping a second time 13 ms after the test's SIGCONT: its
// check of the resume file had run before the stop. Waiting for SIGCONT
// itself makes the stop synchronous, and a continue before the test
// resumes it a real one.
func stopSelf() error {
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, syscall.SIGCONT)
	defer signal.Stop(cont)
	if err := syscall.Kill(os.Getpid(), syscall.SIGSTOP); err != nil {
		return err
	}
	<-cont
	return nil
}

// A debug plugin stopped in the middle of Builder.Run (as at a
// breakpoint) for longer than yamux's keepalive keeps its session with the
// host: once resumed, the call goes on and completes, and new calls work.
// The plugin stops itself between two calls, as a breakpoint in its code
// would. The stop lasts yamux's real keepalive plus 5 s: there is no
// shorter honest way with yamux's defaults; the mechanism itself is also
// tested with a fast keepalive in internal/rpcconn.
func TestDebugPluginStoppedLongerThanKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a plugin for 45 s")
	}
	t.Parallel()
	p := startDebugPlugin(t)
	c := reattachClient(t, p)
	raw, err := c.Dispense("builder")
	if err != nil {
		t.Fatal(err)
	}
	b := raw.(shared.Builder)
	resume := filepath.Join(testutil.TempDir(t), "go")
	if err := b.Prepare(map[string]any{"mode": "self-stop", "go": resume}); err != nil {
		t.Fatal(err)
	}
	// A stopped process does not see the SIGINT of cleanup until resumed.
	t.Cleanup(func() {
		_ = os.WriteFile(resume, nil, 0o600)
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	})
	ui := &recUi{lines: make(chan string, 2)}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background(), nil, ui) }()
	waitLine(t, ui.lines, "say: stopping")
	stopped := time.Now()
	timer := time.NewTimer(yamuxKeepalive + 5*time.Second)
	select {
	case err := <-errc:
		t.Fatalf("Run returned while the plugin was stopped: %v", err)
	case <-timer.C:
	}
	if c.Exited() {
		t.Fatal("the session ended while the plugin was stopped")
	}
	if err := os.WriteFile(resume, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// SIGCONT again until Run returns: one that lands while the plugin is
	// between a stray continue and its next stop would be lost.
	var runErr error
	for resumed := false; !resumed; {
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		select {
		case runErr = <-errc:
			resumed = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := runErr; err != nil {
		t.Fatalf("Run after %v stopped: %v", time.Since(stopped), err)
	}
	if got := strings.Join(ui.lines_(), "\n"); got != "say: stopping\nsay: resumed" {
		t.Fatalf("Ui got %q", got)
	}
	if err := b.Prepare(map[string]any{"mode": "config"}); err != nil {
		t.Fatalf("a new call after resuming: %v", err)
	}
	for _, l := range p.lines() {
		if strings.Contains(l, "continued before the test resumed it") {
			t.Logf("debug plugin: %s", l) // something else sent SIGCONT: none was seen so far
		}
	}
}

// openDescriptors counts the descriptors process pid has open, where
// /proc tells.
func openDescriptors(pid int) (int, bool) {
	es, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	return len(es), err == nil
}
