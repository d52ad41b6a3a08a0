//go:build unix

package host_test

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
)

// captureStderr points file descriptor 2 of this process at a pipe, so
// that everything written to the host's own stderr (by hclog's default
// output, the standard log package, yamux, or the runtime) is caught,
// until the returned function restores it and returns what was written.
// Nothing else may run meanwhile: the tests that use it are not parallel.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := dup2(int(w.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&buf, r)
	}()
	restored := false
	restore := func() string {
		if restored {
			return ""
		}
		restored = true
		_ = dup2(saved, 2)
		_ = syscall.Close(saved)
		_ = w.Close()
		<-done
		_ = r.Close()
		if buf.Len() > 0 {
			// Whatever it was (a race report, say), it still reaches the
			// real stderr.
			_, _ = os.Stderr.Write(buf.Bytes())
		}
		return buf.String()
	}
	t.Cleanup(func() { restore() })
	return restore
}
