package host

import (
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Every signal a test run sends to a plugin's process group is checked
// first: the group's leader, whose pid is the group's id, must be a child
// of this process that is not reaped yet (waitid without reaping, which
// fails with ECHILD for a pid that is no child of ours any more). The
// check runs under the tree's lock, as the signal does, so a reap cannot
// cross it.
var (
	groupSignalsMu  sync.Mutex
	groupSignalsBad []string
	groupSignalsN   int
)

func init() {
	send := signalGroup
	signalGroup = func(pgid int, sig syscall.Signal) error {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pgid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		groupSignalsMu.Lock()
		groupSignalsN++
		if err != nil {
			groupSignalsBad = append(groupSignalsBad, fmt.Sprintf("%v to process group %d, whose leader is no unreaped child of this process (waitid: %v)", sig, pgid, err))
		}
		groupSignalsMu.Unlock()
		return send(pgid, sig)
	}
}

// GroupSignals returns how many signals went to plugins' process groups
// so far, and those that went to a group whose leader was reaped.
func GroupSignals() (n int, bad []string) {
	groupSignalsMu.Lock()
	defer groupSignalsMu.Unlock()
	return groupSignalsN, append([]string(nil), groupSignalsBad...)
}
