//go:build !linux

package host_test

// becomeSubreaper does nothing where there is no subreaper: on macOS an
// orphan goes to launchd, which reaps it; on Windows nothing lingers once
// a process has exited.
func becomeSubreaper() error { return nil }
