//go:build unix

package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// Unix only: SIGSTOP has no Windows counterpart, and Windows does not let
// a running binary be replaced.

// Health checks: a stopped process fails its Pings, is killed with the
// usual grace and restarted.
func TestSupervisedHealth(t *testing.T) {
	t.Parallel()
	// The timeout is the test's bound on a live plugin's answer: a loaded
	// machine delays Pings by far more than their usual microseconds, and a
	// healthy plugin failing three in a row would be killed too.
	o := host.SupervisorOptions{HealthInterval: 20 * time.Millisecond, HealthTimeout: testutil.Slack(500 * time.Millisecond), HealthFailures: 3}
	s := newSup(t, o, &host.Config{KillGrace: 100 * time.Millisecond}, "serve")
	c, err := s.Command()
	if err != nil {
		t.Fatal(err)
	}
	pid := s.next(t, host.EventStarted).Pid
	// Not sigstop, which waits to see the process stopped: the health
	// check may kill it first. The events below are what to wait for.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	u := s.next(t, host.EventUnhealthy)
	if u.Pid != pid || !errors.Is(u.Err, context.DeadlineExceeded) {
		t.Errorf("unhealthy event %v", u)
	}
	e := s.next(t, host.EventExited)
	wantExited(t, "exit of the unhealthy plugin", e.Err, "health checks")
	s.next(t, host.EventRestarting)
	s.next(t, host.EventStarted)
	if syn := c.Synopsis(); syn != "a test command" {
		t.Fatalf("Synopsis after the restart: %q", syn)
	}
	assertReaped(t, pid)
}

// A restart checks the binary against Config.SHA256 again: a binary
// replaced while the plugin ran is not started.
func TestSupervisedChecksum(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(testutil.TempDir(t), "plugin")
	if err := copyFile(testExe, bin); err != nil {
		t.Fatal(err)
	}
	comp := host.Component{Kind: "builder", Path: bin, Dispense: "builder", SHA256: sha256Hex(t, bin)}
	logger, sink := testLogger(hclog.Trace)
	cmd := helperCmd("serve")
	cmd.Path = bin
	events := make(chan host.Event, 100)
	s := comp.NewSupervisor(&host.Config{Cmd: cmd, Logger: logger}, &host.SupervisorOptions{MaxRestarts: 1, MinBackoff: time.Millisecond, OnEvent: func(e host.Event) { events <- e }})
	defer s.Kill()
	b, err := s.DispenseBuilder(comp.Dispense)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Prepare(nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin+".new", []byte("#!/bin/sh\necho not the plugin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	ss := &sup{events: events, log: sink}
	pid := ss.next(t, host.EventStarted).Pid
	if err := killPid(pid); err != nil {
		t.Fatal(err)
	}
	ss.next(t, host.EventExited)
	ss.next(t, host.EventRestarting)
	if e := ss.next(t, host.EventExited); !errors.Is(e.Err, host.ErrChecksum) {
		t.Fatalf("restart of a replaced binary: %v, want ErrChecksum", e.Err)
	}
	g := ss.next(t, host.EventGaveUp)
	if err := b.Prepare(nil); !errors.Is(err, host.ErrCrashLoop) || !strings.Contains(err.Error(), host.ErrChecksum.Error()) {
		t.Fatalf("call after a failed restart: %v (gave up: %v)", err, g.Err)
	}
}
