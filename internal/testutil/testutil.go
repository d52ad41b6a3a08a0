// Package testutil holds helpers shared by plugwire's tests.
package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers, for
// capturing log output in tests.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RefuseArguments ends a test binary that was run with a positional
// argument first, as a host runs a plugin binary ("BINARY describe"),
// with status 2. A test binary that re-executes itself as a plugin, run
// that way without its helper variable, would otherwise run the whole
// suite again, which may run the binary again the same way, without end.
// Call it in TestMain before m.Run.
func RefuseArguments() {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintf(os.Stderr, "%s: run with argument %q and no helper variable: not running the tests\n",
			filepath.Base(os.Args[0]), os.Args[1])
		os.Exit(2)
	}
}
