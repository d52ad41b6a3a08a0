//go:build !windows

package wire

import (
	"errors"
	"syscall"
)

// portTaken reports whether err, from binding a port, says that the port
// is in use: only then is the next port worth trying.
func portTaken(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
