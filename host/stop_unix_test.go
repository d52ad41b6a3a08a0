//go:build unix

package host_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// sigstop stops pid with SIGSTOP and waits until it has stopped, where
// the system can tell (see stopped).
func sigstop(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testutil.Slack(10 * time.Second))
	for !stopped(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped %v after SIGSTOP", pid, testutil.Slack(10*time.Second))
		}
		time.Sleep(time.Millisecond)
	}
}
