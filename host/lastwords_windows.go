package host

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// fionread is Winsock's FIONREAD: how many bytes a socket holds.
const fionread = 0x4004667f

// waiting reports whether the socket fd holds bytes to read (Winsock does
// not tell an end of stream waiting alone).
func waiting(fd uintptr) bool {
	var n, got uint32
	err := windows.WSAIoctl(windows.Handle(fd), fionread, nil, 0, (*byte)(unsafe.Pointer(&n)), 4, &got, nil, 0)
	return err == nil && n > 0
}
