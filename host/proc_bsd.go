//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package host

import "golang.org/x/sys/unix"

// awaitExit waits until the plugin has exited without reaping it (a
// kqueue's NOTE_EXIT), so that its pid, and so its process group's id,
// still name it (see endGroup). Registering for a process that has
// already exited fails with ESRCH: only this host reaps it, so it is then
// a zombie.
func (t *procTree) awaitExit() {
	kq, err := unix.Kqueue()
	if err != nil {
		return
	}
	defer unix.Close(kq)
	var ev unix.Kevent_t
	unix.SetKevent(&ev, t.cmd.Process.Pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev.Fflags = unix.NOTE_EXIT
	changes := []unix.Kevent_t{ev}
	events := make([]unix.Kevent_t, 1)
	for {
		n, err := unix.Kevent(kq, changes, events, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ESRCH:
		case err != nil:
			return
		case n < 1:
			continue
		case events[0].Flags&unix.EV_ERROR != 0 && unix.Errno(events[0].Data) != unix.ESRCH:
			return
		case events[0].Flags&unix.EV_ERROR == 0 && events[0].Fflags&unix.NOTE_EXIT == 0:
			changes = nil
			continue
		}
		t.mu.Lock()
		t.exited = true
		t.mu.Unlock()
		return
	}
}
