package host_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// Ping answers nil while the plugin serves, an error wrapping
// ErrProcessExited saying how once it died or was killed, and starts
// nothing on a client not started.
func TestPing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("not started", func(t *testing.T) {
		p := newPlug(t, nil, "serve")
		err := p.Ping(ctx)
		if err == nil || !strings.Contains(err.Error(), "not started") {
			t.Fatalf("Ping of a client not started: %v, want an error saying it is not started", err)
		}
		if host.Registered(p.Client) || p.Exited() {
			t.Fatal("Ping started the plugin")
		}
	})

	t.Run("serving, then SIGKILLed", func(t *testing.T) {
		p := newPlug(t, nil, "serve")
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 { // concurrent Pings share round trips
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.Ping(ctx); err != nil {
					t.Errorf("Ping of a serving plugin: %v", err)
				}
			}()
		}
		wg.Wait()
		if err := killPid(p.pid(t)); err != nil {
			t.Fatal(err)
		}
		// Without a deadline: the exit, not a timeout, ends the Ping.
		var err error
		within(t, testutil.Slack(5*time.Second), "Ping of a SIGKILLed plugin", func() { err = p.Ping(ctx) })
		wantExited(t, "Ping after SIGKILL", err, killedStatus)
		within(t, testutil.Slack(100*time.Millisecond), "Ping once the exit is known", func() { err = p.Ping(ctx) })
		wantExited(t, "second Ping", err, killedStatus)
	})

	t.Run("killed", func(t *testing.T) {
		p := newPlug(t, nil, "serve")
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		p.Kill()
		wantExited(t, "Ping after Kill", p.Ping(ctx), "Client.Kill")
	})

	t.Run("failed start", func(t *testing.T) {
		p := newPlug(t, nil, "exit-before-address")
		startErr := p.Start(ctx)
		if startErr == nil {
			t.Fatal("the start of a plugin exiting at once succeeded")
		}
		if err := p.Ping(ctx); err == nil || err.Error() != startErr.Error() {
			t.Fatalf("Ping after a failed start: %v, want the start's error %v", err, startErr)
		}
	})

	t.Run("nil context", func(t *testing.T) {
		p := newPlug(t, nil, "serve")
		//lint:ignore SA1012 the nil context is the bad input under test
		if err := p.Ping(nil); err == nil || !strings.Contains(err.Error(), "Ping(nil)") { //nolint:staticcheck
			t.Fatalf("Ping(nil): %v", err)
		}
	})

	t.Run("zero client", func(t *testing.T) {
		var c host.Client
		if err := c.Ping(ctx); err == nil || errors.Is(err, host.ErrProcessExited) {
			t.Fatalf("Ping of the zero Client: %v", err)
		}
	})
}
