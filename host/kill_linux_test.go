package host_test

// Linux only: freezing a process takes SIGSTOP (none on Windows), and the
// test sees the connection clogged through /proc/net/tcp (none on macOS).

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// Kill of a frozen plugin (SIGSTOP: it reads nothing, so the connection's
// buffers fill) with many dispensed objects and large calls in flight
// still returns within grace + 1 s.
func TestKillFrozenPlugin(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	p := newPlug(t, &host.Config{KillGrace: grace}, "serve")
	bs := dispenseMany(t, p, 50)
	pid := p.pid(t)
	_, port, err := net.SplitHostPort(p.log.waitFor(t, time.Second, "for the plugin's address", msgIs("plugin connected")).str("addr"))
	if err != nil {
		t.Fatal(err)
	}
	sigstop(t, pid)
	big := map[string]any{"blob": strings.Repeat("x", 200<<10)}
	errc := make(chan error, len(bs))
	for _, b := range bs {
		go func() { errc <- b.Prepare(big) }()
	}
	testutil.WaitClogged(t, port)
	within(t, grace+time.Second, "Kill of a frozen plugin with 50 large calls in flight", p.Kill)
	for range bs {
		select {
		case err := <-errc:
			if !errors.Is(err, host.ErrProcessExited) {
				t.Errorf("Prepare in flight during Kill: %v, want an error wrapping ErrProcessExited", err)
			}
		case <-time.After(testutil.Slack(2 * time.Second)):
			t.Fatal("a Prepare still in flight 2 s after Kill returned")
		}
	}
	assertReaped(t, pid)
}
