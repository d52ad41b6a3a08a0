//go:build unix

package host_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// When its host is SIGKILLed, a plugin ends its process group on its way
// out: what it started (here a `sleep 300` sharing its stdout, as a VM
// tool would run) is gone with it, within the grace period
// + 1 s. Nobody else would end it: Kill forces a plugin's group, but the
// host is dead.
func TestHostDeathEndsPluginGroup(t *testing.T) {
	t.Parallel()
	if err := becomeSubreaper(); err != nil {
		t.Logf("cannot become a child subreaper (%v): orphans are checked through /proc", err)
	}
	marker := filepath.Join(testutil.TempDir(t), "grandchild")
	pid, sigkill := hostAt(t, "idle-spawn", envMarker+"="+marker)
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", b, err)
	}
	t.Cleanup(func() { _ = killPid(gc) })
	killed := sigkill()
	limit := testutil.Slack(hostHelperGrace + time.Second)
	for _, p := range []struct {
		name string
		pid  int
	}{{"plugin", pid}, {"the plugin's child", gc}} {
		if !waitGone(p.pid, limit-time.Since(killed)) {
			t.Errorf("%s (pid %d) still running %v after the host was SIGKILLed", p.name, p.pid, time.Since(killed))
		}
	}
	t.Logf("plugin and its child gone %v after the host was SIGKILLed", time.Since(killed).Round(time.Millisecond))
}
