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

// lifelineAtStart is why the handle EnvLifeline names was no lifeline
// when the process started (package initialisation, before main and
// anything it opens), or nil: a handle the host did not pass is then
// either closed or something else, and a later check would see whatever
// took its value since.
var lifelineAtStart = inspectLifelineEnv()

type startLifeline struct {
	v   string
	err error
}

func inspectLifelineEnv() *startLifeline {
	v, ok := os.LookupEnv(EnvLifeline)
	if !ok {
		return nil
	}
	_, err := checkLifeline(v)
	return &startLifeline{v: v, err: err}
}

// checkLifeline parses v and checks that it names an open pipe.
func checkLifeline(v string) (syscall.Handle, error) {
	h, err := strconv.ParseUint(v, 10, 64)
	if err != nil || h == 0 {
		return 0, fmt.Errorf("%s=%s is not a handle number", EnvLifeline, Quote(v))
	}
	// Handle values ignore their low two bits, and a plugin holds many
	// handles: only a pipe can be the lifeline.
	t, err := syscall.GetFileType(syscall.Handle(h))
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s=%d: handle %d is not open (%v): the host passes the lifeline there; was the variable copied from a host's environment?", EnvLifeline, h, h, err)
	case t != syscall.FILE_TYPE_PIPE:
		return 0, fmt.Errorf("%s=%d: handle %d is %s, not the pipe a host passes as the lifeline; was the variable copied from a host's environment?", EnvLifeline, h, h, handleKind(t))
	}
	return syscall.Handle(h), nil
}

// handleKind names a file type GetFileType returns, with an article.
func handleKind(t uint32) string {
	switch t {
	case syscall.FILE_TYPE_DISK:
		return "a file"
	case syscall.FILE_TYPE_CHAR:
		return "a character device or console"
	}
	return fmt.Sprintf("a handle of file type %d", t)
}

// OpenLifeline returns the lifeline that v, the value of EnvLifeline,
// names, and keeps it from the processes the plugin starts. The handle
// must have been a pipe when the process started, and still be one.
func OpenLifeline(v string) (*os.File, error) {
	if l := lifelineAtStart; l != nil && l.v == v && l.err != nil {
		return nil, l.err
	}
	h, err := checkLifeline(v)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetHandleInformation(h, syscall.HANDLE_FLAG_INHERIT, 0); err != nil {
		return nil, fmt.Errorf("%s=%d: handle %d: %w", EnvLifeline, h, h, err)
	}
	return os.NewFile(uintptr(h), "lifeline"), nil
}
