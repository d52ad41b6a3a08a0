package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// resetPeak resets process pid's peak resident set to its resident set
// (clear_refs 5) and returns that, in bytes; -1 when it cannot.
func resetPeak(pid int) int64 {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return -1
	}
	return statusBytes(pid, "VmRSS:")
}

// peakRSS returns process pid's peak resident set (VmHWM), in bytes.
func peakRSS(pid int) int64 { return statusBytes(pid, "VmHWM:") }

func statusBytes(pid int, key string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}
