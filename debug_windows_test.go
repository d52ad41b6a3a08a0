package plugwire_test

import (
	"errors"
	"os/exec"
)

// stopSelf is a Unix test helper; nothing stops a process this way on
// Windows.
func stopSelf() error { return errors.ErrUnsupported }

// ownProcessGroup is a Unix test helper: Windows has no process groups to
// be continued by.
func ownProcessGroup(*exec.Cmd) {}

// openDescriptors is not counted on Windows.
func openDescriptors(int) (int, bool) { return 0, false }
