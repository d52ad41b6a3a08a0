package host_test

import (
	"os/exec"
	"syscall"
	"time"
)

const (
	processQueryLimitedInformation = 0x1000
	stillActive                    = 259 // GetExitCodeProcess of a running process
)

// processExists reports whether pid is a running process. A process that
// exited is no longer running even while someone holds a handle to it.
func processExists(pid int) bool {
	h, err := syscall.OpenProcess(processQueryLimitedInformation, false, uint32(pid))
	if err != nil {
		return false // no such process
	}
	defer syscall.CloseHandle(h)
	var code uint32
	if err := syscall.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}

// waitGone waits up to d for pid, a process that is not this process's
// child, to exit.
func waitGone(pid int, d time.Duration) bool {
	h, err := syscall.OpenProcess(syscall.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return true // no such process
	}
	defer syscall.CloseHandle(h)
	ev, err := syscall.WaitForSingleObject(h, uint32(d.Milliseconds()))
	return err == nil && ev == syscall.WAIT_OBJECT_0
}

// killedStatus is how a process killed without asking (killPid, or the
// host forcing it) ended, as its exit status says it: TerminateProcess
// with the exit code os.Process.Kill gives.
const killedStatus = "exit status 1"

// trueCmd is a real process that exits at once with status 0, printing
// nothing.
func trueCmd() *exec.Cmd { return helperCmd("true") }
