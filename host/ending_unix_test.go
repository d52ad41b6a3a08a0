//go:build unix

package host_test

// Process groups and signals: Unix only. Windows has neither; there the
// plugin's tree is a job object (TestKillEndsTree), and Ctrl-C is a
// console event, not a signal a test can send one process.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// The plugin leads a process group of its own (so that a forced kill can
// end the group), unless the host's SysProcAttr says otherwise.
func TestPluginOwnProcessGroup(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	if _, err := p.Builder(); err != nil {
		t.Fatal(err)
	}
	pid := p.pid(t)
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != pid {
		t.Errorf("plugin %d is in process group %d, want its own", pid, pgid)
	}
	if own := syscall.Getpgrp(); pgid == own {
		t.Errorf("plugin shares the host's process group %d", own)
	}
}

// SIGINT (Ctrl-C in a terminal reaches the whole process group) does not
// stop a plugin: the host decides, and cancels through ctx.
func TestPluginIgnoresSIGINT(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	b := preparedBuilder(t, p, map[string]any{"run": "block"})
	ctx, cancel := context.WithCancel(context.Background())
	in := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- b.Run(ctx, nil, uiFunc(func(string) { once.Do(func() { close(in) }) }))
	}()
	await(t, in, 10*time.Second, "Run reaching the plugin")
	if err := syscall.Kill(p.pid(t), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The build goes on; the plugin still answers.
	if err := b.Prepare(map[string]any{"run": "block"}); err != nil {
		t.Fatalf("Prepare after SIGINT: %v", err)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run cancelled through ctx returned %v, want context.Canceled", err)
		}
	case <-time.After(testutil.Slack(5 * time.Second)):
		t.Fatal("Run still running 5 s after its ctx was cancelled")
	}
	p.Kill()
	// The process ended because it was asked to quit, not by SIGINT.
	err := b.Prepare(nil)
	wantExited(t, "Prepare after Kill", err, "exit status 0")
	if err != nil && strings.Contains(err.Error(), "interrupt") {
		t.Errorf("the plugin died of SIGINT: %v", err)
	}
	if !errors.Is(err, host.ErrProcessExited) {
		t.Errorf("Prepare after Kill: %v", err)
	}
}
