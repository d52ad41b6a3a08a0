//go:build unix

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
// end, after cmd's own ExtraFiles, and returns the value of EnvLifeline
// that names it there: its descriptor number.
func PassLifeline(cmd *exec.Cmd, r *os.File) (string, error) {
	cmd.ExtraFiles = append(slices.Clip(cmd.ExtraFiles), r)
	return strconv.Itoa(2 + len(cmd.ExtraFiles)), nil
}

// lifelineAtStart is what the descriptor EnvLifeline names was when the
// process started (package initialisation, before main and anything it
// opens): a descriptor the host did not pass is then either closed or
// something else, and a later check would see whatever took its number
// since (the Go runtime's poller, the plugin's own files or listener).
var lifelineAtStart = inspectLifelineEnv()

// startLifeline is what lifelineAtStart records.
type startLifeline struct {
	fd  int
	st  syscall.Stat_t
	err error // why the descriptor is not a lifeline
}

func inspectLifelineEnv() *startLifeline {
	v, ok := os.LookupEnv(EnvLifeline)
	if !ok {
		return nil
	}
	return inspectLifeline(v)
}

func inspectLifeline(v string) *startLifeline {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return &startLifeline{fd: -1, err: fmt.Errorf("%s=%s is not a descriptor number above 2", EnvLifeline, Quote(v))}
	}
	l := &startLifeline{fd: fd}
	if err := syscall.Fstat(fd, &l.st); err != nil {
		l.err = fmt.Errorf("%s=%d: descriptor %d is not open (%v): the host passes the lifeline there; was the variable copied from a host's environment, or the descriptor closed by a wrapper?", EnvLifeline, fd, fd, err)
		return l
	}
	if uint32(l.st.Mode)&syscall.S_IFMT != syscall.S_IFIFO {
		what := fileKind(uint32(l.st.Mode))
		// Where the system says which file it is, say it: with no
		// descriptor passed, the number is often the Go runtime's own
		// (it keeps cgroup files open from its start on Linux).
		if path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil {
			what += " (" + path + ")"
		}
		l.err = fmt.Errorf("%s=%d: descriptor %d is %s, not the pipe a host passes as the lifeline: was the variable copied from a host's environment, or the descriptor closed by a wrapper?", EnvLifeline, fd, fd, what)
		return l
	}
	// Keep it from what the plugin starts, from the start.
	syscall.CloseOnExec(fd)
	return l
}

// fileKind names the type of file a mode says, with an article.
func fileKind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "a regular file"
	case syscall.S_IFDIR:
		return "a directory"
	case syscall.S_IFCHR:
		return "a character device"
	case syscall.S_IFBLK:
		return "a block device"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFLNK:
		return "a symbolic link"
	}
	return fmt.Sprintf("a file of mode %#o", mode&syscall.S_IFMT)
}

// OpenLifeline returns the lifeline that v, the value of EnvLifeline,
// names, and keeps it from the processes the plugin starts. The
// descriptor must have been a pipe when the process started, and still be
// that pipe.
func OpenLifeline(v string) (*os.File, error) {
	l := lifelineAtStart
	if l == nil || l.fd < 0 || strconv.Itoa(l.fd) != v {
		// The variable was set after the process started (a test that
		// serves in its own process): check the descriptor now.
		l = inspectLifeline(v)
	}
	if l.err != nil {
		return nil, l.err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(l.fd, &st); err != nil || st.Dev != l.st.Dev || st.Ino != l.st.Ino {
		return nil, fmt.Errorf("%s=%d: descriptor %d was closed or replaced after the plugin started: leave the host's lifeline open", EnvLifeline, l.fd, l.fd)
	}
	return os.NewFile(uintptr(l.fd), "lifeline"), nil
}
