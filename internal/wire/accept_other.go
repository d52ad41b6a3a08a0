//go:build !windows

package wire

import (
	"errors"
	"syscall"
)

// errTooManyOpen is how an Accept says the process has no descriptor left.
var errTooManyOpen error = syscall.EMFILE

// outOfDescriptors reports whether an Accept failed for want of file
// descriptors (the process's or the system's).
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
