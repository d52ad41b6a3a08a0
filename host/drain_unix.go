//go:build unix

package host

import (
	"os"

	"golang.org/x/sys/unix"
)

// ownPipes: the host reads the plugin's output pipes itself (see outputs).
const ownPipes = true

// pending returns how many bytes wait to be read in the pipe f.
func pending(f *os.File) int {
	n := 0
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			n, _ = unix.IoctlGetInt(int(fd), fionread)
		})
	}
	return n
}
