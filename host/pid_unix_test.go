//go:build unix

package host_test

import (
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// processExists reports whether pid is a process at all: running, or a
// zombie nobody has reaped (procState then says "Z").
func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// waitGone waits up to d for pid, a process that is not this process's
// child (or a child nobody waits for), to exit: it is gone, or a zombie.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		var ws syscall.WaitStatus
		if wpid, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); wpid == pid {
			return true // our orphan (we are its subreaper), now reaped
		}
		if !processExists(pid) || procState(pid) == "Z" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling a real condition
	}
}

// killedStatus is how a process killed without asking (killPid, or the
// host forcing it) ended, as its exit status says it.
const killedStatus = "signal: killed"

// trueCmd is a real process that exits at once with status 0, printing
// nothing, and starts fast.
func trueCmd() *exec.Cmd { return exec.Command("/bin/true") }
