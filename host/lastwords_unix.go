//go:build unix && !aix

package host

import "golang.org/x/sys/unix"

// waiting reports whether reading the socket fd cannot block: a byte, or
// the end of the stream, is there.
func waiting(fd uintptr) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil
}
