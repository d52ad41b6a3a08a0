package host

import (
	"net"
	"syscall"
)

// peerSent reports whether bytes sent by conn's peer are waiting to be
// read (on Unix, or the end of its stream: see waiting). A plugin that
// answered and exited leaves its answer, and the host must read it
// rather than close the connection on the exit.
func peerSent(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	sent := false
	_ = rc.Control(func(fd uintptr) { sent = waiting(fd) })
	return sent
}
