//go:build unix

package host

import (
	"os/exec"
	"syscall"
)

// endLeftovers kills what is left of the process group of a describe run
// (prepareTree made the binary lead its own), once the binary has exited
// and been reaped. The group's id was the binary's pid: only a process
// still in the group keeps it, and no new process can have that pid until
// the group is empty.
func endLeftovers(cmd *exec.Cmd, t *procTree) {
	if t.group {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
