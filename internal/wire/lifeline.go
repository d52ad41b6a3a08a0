package wire

import (
	"io"
	"os"
)

// The lifeline is the read end of a pipe whose write end only the host
// holds: EOF on it means the host is gone (it died, or Kill closed it).
// It is an inherited descriptor other than stdin, so that the plugin's
// standard input is its own: ExtraFiles on Unix, an inherited handle on
// Windows. EnvLifeline carries its number.

// WatchLifeline reads the lifeline f until EOF or an error and then closes
// gone. It returns at once; the read goes on in a goroutine.
func WatchLifeline(f *os.File, gone chan<- struct{}) {
	go func() {
		_, _ = io.Copy(io.Discard, f)
		_ = f.Close()
		close(gone)
	}()
}
