package wire

import (
	"os"
	"sync/atomic"
	"time"
)

// The lifeline is the read end of a pipe whose write end only the host
// holds: EOF on it means the host is gone (it died, or Kill closed it).
// It is an inherited descriptor other than stdin, so that the plugin's
// standard input is its own: ExtraFiles on Unix, an inherited handle on
// Windows. EnvLifeline carries its number.
//
// A host that asks the plugin to quit (Kill) writes QuitByte on it before
// closing it; a lifeline that ends without it means that the host died,
// and then nobody will end what the plugin started: the plugin does, on
// its way out.

// QuitByte is what a host writes on the lifeline before closing it when
// it asks the plugin to quit.
const QuitByte = 'q'

// Lifeline watches a lifeline; see WatchLifeline.
type Lifeline struct {
	gone chan struct{}
	quit atomic.Bool
}

// WatchLifeline reads the lifeline f until EOF or an error, and then
// closes Gone. It returns at once; the read goes on in a goroutine.
func WatchLifeline(f *os.File) *Lifeline {
	l := &Lifeline{gone: make(chan struct{})}
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := f.Read(buf)
			for _, b := range buf[:n] {
				if b == QuitByte {
					l.quit.Store(true)
				}
			}
			if err != nil {
				break
			}
		}
		_ = f.Close()
		close(l.gone)
	}()
	return l
}

// Gone is closed once the lifeline has ended.
func (l *Lifeline) Gone() <-chan struct{} { return l.gone }

// HostDied reports whether the lifeline ended without the host asking
// the plugin to quit: the host died (or it closed the lifeline without
// saying why, as hosts before QuitByte did). It waits up to wait for the
// lifeline to end: a plugin may see its connection end a moment before
// its lifeline when its host dies.
func (l *Lifeline) HostDied(wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-l.gone:
		return !l.quit.Load()
	case <-t.C:
		return false
	}
}
