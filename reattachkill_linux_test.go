package plugwire_test

import (
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// Kill of a client reattached to a debug plugin that is stopped (as at a
// breakpoint) returns within KillGrace + 1 s even when yamux's sender is
// stuck in a TCP write: 40 builders each sending a 320 KiB Prepare fill the
// socket buffers of a plugin that reads nothing. The stuck Prepares then
// return errors wrapping ErrProcessExited, and the plugin, resumed, serves
// the next host.
func TestKillReattachedStuckInWrite(t *testing.T) {
	t.Parallel()
	p := startDebugPlugin(t)
	const grace = time.Second
	c := host.NewClient(&host.Config{
		Reattach:  &p.entry,
		Plugins:   setPlugins(),
		KillGrace: grace,
		Logger:    hclog.New(&hclog.LoggerOptions{Name: "e2e", Level: hclog.Warn, Output: testWriter{t}}),
	})
	t.Cleanup(c.Kill)
	const n = 40
	builders := make([]shared.Builder, n)
	for i := range builders {
		raw, err := c.Dispense("builder/a")
		if err != nil {
			t.Fatal(err)
		}
		builders[i] = raw.(shared.Builder)
	}
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
	// Each blob is a little more than a yamux stream window (256 KiB): a
	// stream sends that much and waits for a window update the stopped
	// plugin never sends, so 40 of them clog the connection; bigger blobs
	// clog it no more, and only add encoding work that competes with Kill
	// for the CPU.
	big := map[string]any{"blob": strings.Repeat("x", 320<<10)}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, b := range builders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.Prepare(big)
		}()
	}
	_, port, err := net.SplitHostPort(p.entry.Addr)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitClogged(t, port)
	t0 := time.Now()
	killed := make(chan struct{})
	go func() { c.Kill(); close(killed) }()
	bound := testutil.Slack(grace + time.Second)
	select {
	case <-killed:
		t.Logf("Kill returned after %v", time.Since(t0))
	case <-time.After(bound):
		<-killed
		t.Logf("Kill took %v", time.Since(t0))
		t.Fatalf("Kill still blocked %v after it was called (KillGrace %v)", bound, grace)
	}
	wg.Wait()
	t.Logf("the Prepares returned after %v", time.Since(t0))
	close(errs)
	for err := range errs {
		if !errors.Is(err, host.ErrProcessExited) {
			t.Fatalf("a Prepare the stopped plugin never read: %v, want an error wrapping ErrProcessExited", err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	defer func() { t.Logf("the next host was served after %v", time.Since(t1)) }()
	if got, want := builderSays(t, reattachClient(t, p)), "say: builder a in pid "; !strings.HasPrefix(got, want) {
		t.Fatalf("next host after the stuck one: %q", got)
	}
}
