package host_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// When the host is SIGKILLed during a Run that cleans up on ctx, the
// plugin's ctx is cancelled at once (through the lifeline, or the
// connection when the host gave it none), its teardown runs to the end,
// and the plugin is gone within the grace period the host passed + 1 s.
func TestHostDeathLetsRunCleanUp(t *testing.T) {
	t.Parallel()
	if err := becomeSubreaper(); err != nil {
		t.Logf("cannot become a child subreaper (%v): orphans are checked through /proc", err)
	}
	for _, moment := range []string{"cleanup", "cleanup-nolifeline"} {
		t.Run(moment, func(t *testing.T) {
			t.Parallel()
			marker := filepath.Join(testutil.TempDir(t), "torn-down")
			pid, sigkill := hostAt(t, moment, envMarker+"="+marker)
			killed := sigkill()
			limit := testutil.Slack(hostHelperGrace + time.Second)
			if !waitGone(pid, limit) {
				_ = killPid(pid)
				// Whether the teardown ran tells a plugin that never saw
				// its host die from one slow to exit.
				got, err := os.ReadFile(marker)
				t.Fatalf("plugin %d still running %v after its host was SIGKILLed (teardown marker: %q, %v)", pid, limit, got, err)
			}
			gone := time.Since(killed)
			got, err := os.ReadFile(marker)
			if err != nil || string(got) != context.Canceled.Error() {
				t.Errorf("teardown marker: %q, %v; want the teardown to have run on %q", got, err, context.Canceled)
			}
			if gone < teardownTime {
				t.Errorf("plugin gone %v after its host's death, before its teardown (%v) could run", gone, teardownTime)
			}
			t.Logf("plugin exited %v after its host was SIGKILLed, its teardown done", gone.Round(time.Millisecond))
		})
	}
}
