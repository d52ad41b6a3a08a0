//go:build unix

package host_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// A stopped plugin (SIGSTOP, as a wedged one) makes Ping return its
// context's error; Ping kills nothing, and the plugin answers once
// continued. Pings of the stopped plugin share one round trip.
func TestPingStopped(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := p.pid(t)
	defer syscall.Kill(pid, syscall.SIGCONT)
	sigstop(t, pid)
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := p.Ping(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Ping of a stopped plugin: %v, want an error wrapping context.DeadlineExceeded", err)
		}
	}
	if p.Exited() || !processExists(pid) {
		t.Fatal("the stopped plugin ended while pinged")
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Slack(10*time.Second))
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping once continued: %v", err)
	}
}
