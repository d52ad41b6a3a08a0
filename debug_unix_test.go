//go:build unix

package plugwire_test

import (
	"context"
	"os"
	"os/exec"
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

// ownProcessGroup starts cmd in a process group of its own. A stopped
// process in the test's own group is continued at once by the kernel
// (SIGHUP, then SIGCONT) whenever that group becomes orphaned, which
// depends on how the test run was started (seen under CI's script); in a
// group whose only member is the plugin, whose parent is this test, that
// cannot happen while the test runs.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// stopSelf stops this process, as a debugger's breakpoint does, until
// SIGCONT.
func stopSelf() error { return syscall.Kill(os.Getpid(), syscall.SIGSTOP) }

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
			t.Logf("debug plugin: %s", l) // something else sent SIGCONT
		}
	}
}

// openDescriptors counts the descriptors process pid has open, where
// /proc tells.
func openDescriptors(pid int) (int, bool) {
	es, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	return len(es), err == nil
}
