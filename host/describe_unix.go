//go:build unix

package host

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// ownGroup puts the process cmd starts in a process group of its own, so
// that killGroup reaches whatever it starts too.
func ownGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// killGroup kills the process group ownGroup made for p.
func killGroup(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
