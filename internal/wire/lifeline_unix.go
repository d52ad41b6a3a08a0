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

// OpenLifeline returns the lifeline that v, the value of EnvLifeline,
// names, and keeps it from the processes the plugin starts.
func OpenLifeline(v string) (*os.File, error) {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%s is not a descriptor number above 2", EnvLifeline, Quote(v))
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%s=%d: descriptor %d is not open: %w", EnvLifeline, fd, fd, err)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "lifeline"), nil
}
