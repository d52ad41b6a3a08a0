package host_test

import (
	"sync"
	"syscall"
)

// becomeSubreaper makes this process adopt its orphaned descendants, so
// that a plugin whose host was SIGKILLed is reaped by the test (which
// learns that it exited) rather than left a zombie of an init that does not
// reap.
var becomeSubreaper = sync.OnceValue(func() error {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return errno
	}
	return nil
})
