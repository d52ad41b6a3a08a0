//go:build unix

package plugwire

import (
	"os"
	"syscall"
)

// endOwnGroup kills the plugin's process group, the plugin included, when
// the plugin leads it (as a plugwire host starts it, unless the host keeps
// it in its own group for a terminal): what the plugin started goes with
// it.
func endOwnGroup() {
	pid := os.Getpid()
	if syscall.Getpgrp() != pid {
		return // the group is the host's, or a shell's: not ours to end
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
