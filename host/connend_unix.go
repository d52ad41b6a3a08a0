//go:build unix

package host

import "syscall"

// connEndErrnos are the system errors of a connection the other side
// ended or refused.
var connEndErrnos = []error{syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.EPIPE, syscall.ECONNABORTED}
