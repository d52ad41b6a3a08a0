package wire

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
)

// PassLifeline makes the process cmd starts inherit r, the lifeline's read
// end, through SysProcAttr.AdditionalInheritedHandles (on a copy of cmd's
// SysProcAttr), and returns the value of EnvLifeline that names it there:
// the handle, which keeps its value in the child. Go starts processes with
// an explicit list of handles to inherit, so marking r inheritable lets no
// other child have it; were it leaked anyway, a read end keeps no pipe
// open.
func PassLifeline(cmd *exec.Cmd, r *os.File) (string, error) {
	h := syscall.Handle(r.Fd())
	if err := syscall.SetHandleInformation(h, syscall.HANDLE_FLAG_INHERIT, syscall.HANDLE_FLAG_INHERIT); err != nil {
		return "", fmt.Errorf("marking the lifeline handle inheritable: %w", err)
	}
	var attr syscall.SysProcAttr
	if cmd.SysProcAttr != nil {
		attr = *cmd.SysProcAttr
	}
	attr.AdditionalInheritedHandles = append(slices.Clip(attr.AdditionalInheritedHandles), h)
	cmd.SysProcAttr = &attr
	return strconv.FormatUint(uint64(h), 10), nil
}

// OpenLifeline returns the lifeline that v, the value of EnvLifeline,
// names, and keeps it from the processes the plugin starts.
func OpenLifeline(v string) (*os.File, error) {
	h, err := strconv.ParseUint(v, 10, 64)
	if err != nil || h == 0 {
		return nil, fmt.Errorf("%s=%s is not a handle number", EnvLifeline, Quote(v))
	}
	// Handle values ignore their low two bits, and a plugin holds many
	// handles: only a pipe can be the lifeline.
	if t, err := syscall.GetFileType(syscall.Handle(h)); err != nil || t != syscall.FILE_TYPE_PIPE {
		return nil, fmt.Errorf("%s=%d: handle %d is not open, or not a pipe", EnvLifeline, h, h)
	}
	if err := syscall.SetHandleInformation(syscall.Handle(h), syscall.HANDLE_FLAG_INHERIT, 0); err != nil {
		return nil, fmt.Errorf("%s=%d: handle %d: %w", EnvLifeline, h, h, err)
	}
	return os.NewFile(uintptr(h), "lifeline"), nil
}
