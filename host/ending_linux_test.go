package host_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"golang.org/x/sys/unix"
)

// SIGTERM to the plugin mid-Run does not end it (as SIGINT and SIGHUP do
// not: the kernel sends SIGHUP to an orphaned process group with a stopped
// member when the host dies, in the middle of the plugin's cleanup): the
// plugin catches them, the Run goes on, and only the host's cancel ends it.
func TestPluginIgnoresSigterm(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "block"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, errc := runInFlight(t, ctx, b)
	pid := p.pid(t)
	sigs := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}
	for _, sig := range sigs {
		if !sigCaught(t, pid, sig) {
			t.Errorf("plugin does not catch %v", sig)
		}
	}
	for _, sig := range sigs {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		waitNotPending(t, pid, sig)
	}
	// A round trip after the signals were handled: the plugin still serves.
	if err := preparedBuilder(t, p, map[string]any{}).Prepare(map[string]any{}); err != nil || p.Exited() {
		t.Fatalf("Prepare after the signals: %v (exited: %v)", err, p.Exited())
	}
	select {
	case err := <-errc:
		t.Fatalf("Run returned %v after the signals", err)
	default:
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil || err.Error() != context.Canceled.Error() {
			t.Errorf("Run after cancel: %v, want the plugin's %v", err, context.Canceled)
		}
	case <-time.After(testutil.Slack(5 * time.Second)):
		t.Fatal("Run still running 5 s after its ctx was cancelled")
	}
}

// procSignals returns the named signal mask line of /proc/PID/status.
func procSignals(t *testing.T, pid int, field string) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var mask uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &mask); err != nil {
				t.Fatalf("%s: %q: %v", field, line, err)
			}
			return mask
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func sigCaught(t *testing.T, pid int, sig syscall.Signal) bool {
	return procSignals(t, pid, "SigCgt")&(1<<(sig-1)) != 0
}

// waitNotPending waits until sig, sent to pid, has been delivered.
func waitNotPending(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	deadline := time.Now().Add(testutil.Slack(5 * time.Second))
	for procSignals(t, pid, "ShdPnd")&(1<<(sig-1)) != 0 || procSignals(t, pid, "SigPnd")&(1<<(sig-1)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%v still pending for %d after 5 s", sig, pid)
		}
		time.Sleep(time.Millisecond) // polling a real condition
	}
}

// A plugin whose stdin is a terminal stays in the host's process group:
// in a group of its own it would be stopped (SIGTTIN) reading it.
func TestPluginWithTerminalStdinKeepsHostGroup(t *testing.T) {
	t.Parallel()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var n int
	if rc, err := ptmx.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0)
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	p := newPlug(t, &host.Config{Stdin: tty}, "serve")
	if _, err := p.Builder(); err != nil {
		t.Fatal(err)
	}
	pgid, err := syscall.Getpgid(p.pid(t))
	if err != nil {
		t.Fatal(err)
	}
	if own := syscall.Getpgrp(); pgid != own {
		t.Errorf("plugin with a terminal on stdin is in process group %d, want the host's %d", pgid, own)
	}
}
