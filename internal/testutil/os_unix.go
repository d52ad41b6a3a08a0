//go:build unix

package testutil

import "syscall"

// ECONNREFUSED and ECONNRESET are the errors a refused dial and a reset
// connection wrap.
const (
	ECONNREFUSED = syscall.ECONNREFUSED
	ECONNRESET   = syscall.ECONNRESET
)

// Wine reports whether this process runs under Wine: never, on Unix.
func Wine() bool { return false }
