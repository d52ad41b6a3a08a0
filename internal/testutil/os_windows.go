package testutil

import (
	"sync"
	"syscall"
)

// ECONNREFUSED and ECONNRESET are the errors a refused dial and a reset
// connection wrap: Winsock's own numbers, which syscall.ECONNREFUSED and
// syscall.ECONNRESET (invented values on Windows) do not match.
const (
	ECONNREFUSED = syscall.Errno(10061) // WSAECONNREFUSED
	ECONNRESET   = syscall.Errno(10054) // WSAECONNRESET
)

// Wine reports whether this process runs under Wine, whose ntdll has
// wine_get_version.
var Wine = sync.OnceValue(func() bool {
	return syscall.NewLazyDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
})
