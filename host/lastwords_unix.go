//go:build unix

package host

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerSent reports whether reading conn cannot block: bytes, or the end
// of the stream, sent by its peer are waiting. A plugin that answered
// and exited leaves both, and the host must read them rather than close
// the connection on the exit.
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
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		sent = err == nil // a byte, or 0 for the end of the stream
	})
	return sent
}
