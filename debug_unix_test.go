//go:build unix

package plugwire_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/shared"
)

// yamuxKeepalive is how long yamux takes to end a session whose peer does
// not answer: a ping every 30 s, each answered within 10 s (its defaults,
// which go-plugin does not let anyone change).
const yamuxKeepalive = 30*time.Second + 10*time.Second

// gatedBuild is a host Build whose Run waits until it is released.
type gatedBuild struct {
	entered chan struct{}
	release chan struct{}
}

func (b *gatedBuild) Prepare() error { return nil }
func (b *gatedBuild) Run(_ context.Context, ui shared.Ui) error {
	close(b.entered)
	<-b.release
	ui.Say("host build released")
	return nil
}

// A debug plugin stopped (as at a breakpoint) for longer than yamux's
// keepalive, in the middle of a call, keeps its session with the host:
// once resumed, the call completes and new calls work. The stop lasts
// yamux's real keepalive plus 5 s: there is no shorter honest way with
// yamux's defaults; the mechanism itself is also tested with a fast
// keepalive in internal/rpcconn.
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
	if err := b.Prepare(map[string]any{"mode": "default"}); err != nil {
		t.Fatal(err)
	}
	build := &gatedBuild{entered: make(chan struct{}), release: make(chan struct{})}
	ui := &recUi{}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background(), build, ui) }()
	<-build.entered // the plugin's Run is waiting for the host's build

	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// A stopped process does not see the SIGINT of cleanup until resumed.
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
	stopped := time.Now()
	// The host's build returns while the plugin is stopped: its reply waits
	// in the connection.
	close(build.release)
	timer := time.NewTimer(yamuxKeepalive + 5*time.Second)
	select {
	case err := <-errc:
		t.Fatalf("Run returned while the plugin was stopped: %v", err)
	case <-timer.C:
	}
	if c.Exited() {
		t.Fatal("the session ended while the plugin was stopped")
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run after %v stopped: %v", time.Since(stopped), err)
	}
	got := strings.Join(ui.lines_(), "\n")
	if !strings.HasSuffix(got, "say: host build released") {
		t.Fatalf("Ui got %q", got)
	}
	if err := b.Prepare(map[string]any{"mode": "config"}); err != nil {
		t.Fatalf("a new call after resuming: %v", err)
	}
}
