package host

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fionread is Winsock's FIONREAD: how many bytes a socket holds.
const fionread = 0x4004667f

// peerSent reports whether bytes sent by conn's peer are waiting to be
// read. A plugin that answered and exited leaves its answer, and the host
// must read it rather than close the connection on the exit. (Winsock
// does not tell an end of stream waiting alone.)
func peerSent(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n, got uint32
	_ = rc.Control(func(fd uintptr) {
		if windows.WSAIoctl(windows.Handle(fd), fionread, nil, 0, (*byte)(unsafe.Pointer(&n)), 4, &got, nil, 0) != nil {
			n = 0
		}
	})
	return n > 0
}
