package host_test

import (
	"bytes"
	"fmt"
	"os"
)

// procState is the state letter of pid in /proc ("Z" for a zombie), or ""
// where there is no such process.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return ""
	}
	return string(b[i+2])
}
