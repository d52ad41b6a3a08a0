package host

import (
	"errors"
	"fmt"
	"strings"
)

// ErrStartTimeout is wrapped by the error a Client returns when the plugin
// printed no address line, or did not complete the connection, within
// Config.StartTimeout.
var ErrStartTimeout = errors.New("plugin did not start in time")

// ErrProcessExited is wrapped by the error a Client returns when the plugin
// process exited: before announcing its address, or while calls were in
// flight, or before a later call. The error's text carries the exit status
// or signal and the last lines the plugin wrote to stderr.
var ErrProcessExited = errors.New("plugin process exited")

// exitError describes how a plugin process ended.
func exitError(name string, pid int, status string, tail []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (pid %d): %s", name, pid, status)
	if len(tail) > 0 {
		b.WriteString("; last stderr: ")
		for i, l := range tail {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(l)
		}
	}
	return fmt.Errorf("%w: %s", ErrProcessExited, b.String())
}
