package host

import "golang.org/x/sys/unix"

// awaitExit waits until the plugin has exited without reaping it, so that
// its pid, and so its process group's id, still name it (see endGroup).
func (t *procTree) awaitExit() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, t.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			t.mu.Lock()
			t.exited = err == nil
			t.mu.Unlock()
			return
		}
	}
}
