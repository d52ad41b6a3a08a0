//go:build !linux

package host_test

// procState is "" where there is no /proc (macOS, Windows): a zombie is
// not told from a running process there, and waitGone reaps orphans it
// can.
func procState(int) string { return "" }

// stopped is true where there is no /proc to tell: the caller goes on
// as soon as SIGSTOP was sent.
func stopped(int) bool { return true }
