package host

import (
	"io"
	"os"
)

// stdinPipe returns what the plugin process gets as its stdin for
// Config.Stdin: the value itself when it is nil or an *os.File, and
// otherwise the read end of a pipe whose write end (feed) feedStdin fills
// from it. os/exec would copy such a reader itself, but its Wait (and so
// Kill) then waits for that copy, even past WaitDelay, and a Read that
// never returns (an io.Pipe, a terminal, a network connection) would hold
// it for ever. The caller closes the read end once the process started.
func stdinPipe(in io.Reader) (stdin io.Reader, feed *os.File, err error) {
	if in == nil {
		return nil, nil, nil
	}
	if f, ok := in.(*os.File); ok {
		return f, nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	return r, w, nil
}

// feedStdin copies in to the plugin until in ends or the plugin is gone
// (a write then fails, as the pipe has no reader left). A Read of in that
// never returns holds only this goroutine.
func feedStdin(feed *os.File, in io.Reader) {
	_, _ = io.Copy(feed, in)
	_ = feed.Close()
}
