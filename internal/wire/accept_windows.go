package wire

import (
	"errors"
	"syscall"
)

// Winsock's errors for want of sockets, which the syscall package does
// not name: WSAEMFILE and WSAENOBUFS.
const (
	wsaEMFILE  syscall.Errno = 10024
	wsaENOBUFS syscall.Errno = 10055
)

// errTooManyOpen is how an Accept says the process has no descriptor left.
var errTooManyOpen error = wsaEMFILE

// outOfDescriptors reports whether an Accept failed for want of sockets.
func outOfDescriptors(err error) bool {
	return errors.Is(err, wsaEMFILE) || errors.Is(err, wsaENOBUFS)
}
