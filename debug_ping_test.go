package plugwire_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// Ping works for a reattached client: it answers while the plugin in debug
// mode serves and, once the plugin ended, wraps ErrProcessExited.
func TestPingReattached(t *testing.T) {
	p := startDebugPlugin(t)
	c := reattachClient(t, p)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping of a reattached plugin: %v", err)
	}
	if err := interrupt(p.cmd.Process); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	ctx, cancel := context.WithTimeout(ctx, testutil.Slack(10*time.Second))
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, host.ErrProcessExited) {
		t.Fatalf("Ping once the plugin ended: %v, want an error wrapping ErrProcessExited", err)
	}
}
