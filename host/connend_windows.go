package host

import "syscall"

// connEndErrnos are the system errors of a connection the other side
// ended or refused: Winsock's numbers, which syscall.ECONNRESET and its
// kin (invented values on Windows) do not match.
var connEndErrnos = []error{
	syscall.Errno(10054), // WSAECONNRESET
	syscall.Errno(10061), // WSAECONNREFUSED
	syscall.Errno(10053), // WSAECONNABORTED
	syscall.Errno(10058), // WSAESHUTDOWN
	syscall.ERROR_BROKEN_PIPE,
}
