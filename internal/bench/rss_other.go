//go:build !linux

package bench

// resetPeak cannot reset a process's peak resident set here: -1.
func resetPeak(int) int64 { return -1 }

func peakRSS(int) int64 { return -1 }
