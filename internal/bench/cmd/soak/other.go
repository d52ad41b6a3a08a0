//go:build !linux

// Command soak runs plugwire under faults for a bounded time; it needs
// Linux (/proc, a child subreaper, signals).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "soak: runs on Linux only")
	os.Exit(2)
}
