package host_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
)

// No signal goes to a plugin's process group once the plugin is reaped:
// its pid may then lead another group. A start whose plugin exits before
// its address line, one killed during its handshake, a Kill of a plugin
// that quits and one of a plugin that must be forced all end their
// plugin's group (the test binary checks every such signal, see
// host.GroupSignals) and none reaches a reaped pid.
func TestNoSignalToReapedGroup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the check uses waitid(WNOWAIT), Linux's")
	}
	t.Parallel()
	before, _ := host.GroupSignals()
	for range 10 {
		c := host.NewClient(&host.Config{Cmd: helperCmd("exit-before-address")})
		if err := c.Start(context.Background()); !errors.Is(err, host.ErrProcessExited) {
			t.Fatalf("Start of a plugin that exits before its address: %v", err)
		}
		c.Kill()

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		c = host.NewClient(&host.Config{Cmd: helperCmd("silent")})
		_ = c.Start(ctx)
		cancel()
		c.Kill()

		p := newPlug(t, &host.Config{KillGrace: 50 * time.Millisecond}, "serve")
		if _, err := p.Builder(); err != nil {
			t.Fatal(err)
		}
		p.Kill()
	}
	after, bad := host.GroupSignals()
	for _, b := range bad {
		t.Error(b)
	}
	if after == before {
		t.Error("no signal went to any group: the check checked nothing")
	}
	t.Logf("%d signals to process groups checked", after-before)
}
