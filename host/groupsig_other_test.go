//go:build !linux

package host

// GroupSignals checks nothing where there is no waitid(WNOWAIT) to check
// with.
func GroupSignals() (n int, bad []string) { return 0, nil }
