package wire

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// acceptResult is what AcceptHost returned.
type acceptResult struct {
	conn net.Conn
	err  error
}

// startAcceptor runs an acceptor with max and timeout on a fresh loopback
// listener (or on wrap of it), and returns the address and the result.
func startAcceptor(t *testing.T, s Secret, max int, timeout time.Duration, deadline time.Time, stop <-chan struct{}, wrap func(net.Listener) net.Listener) (*acceptor, string, <-chan acceptResult) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	a := &acceptor{ln: ln, s: s, max: max, timeout: timeout, finished: make(chan struct{})}
	res := make(chan acceptResult, 1)
	go func() {
		c, err := a.run(deadline, stop)
		res <- acceptResult{c, err}
	}()
	return a, addr, res
}

// dialSilent opens n connections to addr that never send anything.
func dialSilent(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatalf("dialing %s: %v", addr, err)
		}
		conns = append(conns, c)
		t.Cleanup(func() { _ = c.Close() })
	}
	return conns
}

// readToEnd reads what c receives until it ends or d passes, and reports
// whether it ended (EOF or reset) rather than timed out.
func readToEnd(c net.Conn, d time.Duration) ([]byte, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	return b, !errors.Is(err, os.ErrDeadlineExceeded)
}

// hostProve dials addr and proves s, as a host.
func hostProve(t *testing.T, addr string, s Secret) error {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	t.Cleanup(func() { _ = c.Close() })
	return Prove(c, s, time.Now().Add(5*time.Second))
}

// Silent connections beyond the cap close the oldest: the host, arriving
// after many of them, still connects; the first ones get the greeting and
// then the end of the connection.
func TestAcceptHostEvictsOldest(t *testing.T) {
	t.Parallel()
	s := mustSecret(t)
	const max, silent = 4, 40
	a, addr, res := startAcceptor(t, s, max, time.Minute, time.Now().Add(time.Minute), nil, nil)
	conns := dialSilent(t, addr, silent)
	if err := hostProve(t, addr, s); err != nil {
		t.Fatalf("host after %d silent connections: %v", silent, err)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("AcceptHost = %v", r.err)
	}
	defer r.conn.Close()
	a.mu.Lock()
	accepted, evicted := a.accepted, a.evicted
	a.mu.Unlock()
	// Accepted in order: every silent one, then the host, which evicted one more.
	if accepted != silent+1 || evicted != silent+1-max {
		t.Errorf("accepted %d, evicted %d; want %d and %d", accepted, evicted, silent+1, silent+1-max)
	}
	// Its greeting, if its handshake's goroutine wrote it before the
	// eviction closed the connection (on a loaded machine it may not
	// have), then the end.
	got, ended := readToEnd(conns[0], 5*time.Second)
	if !ended || (len(got) != GreetingSize && len(got) != 0) {
		t.Errorf("the oldest silent connection got %d bytes and ended=%v; want its greeting or nothing, then the end", len(got), ended)
	}
	// Once the host is in, the rest are closed too, and the port is shut.
	if _, ended := readToEnd(conns[silent-1], 5*time.Second); !ended {
		t.Error("the newest silent connection still open after the host connected")
	}
	if c, err := net.Dial("tcp4", addr); err == nil {
		c.Close()
		t.Error("the listener still accepts after the host connected")
	}
}

// scriptedListener takes one step of its script per Accept: an error to
// return, or nil to accept for real.
type scriptedListener struct {
	net.Listener
	script chan error
	closed chan struct{}
	once   sync.Once
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.script:
		if err != nil {
			return nil, err
		}
		return l.Listener.Accept()
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Accept errors are retried with back-off, as net/http does; running out
// of descriptors closes the oldest unproven connection to free one and
// lowers the cap.
func TestAcceptHostRetriesAcceptErrors(t *testing.T) {
	t.Parallel()
	s := mustSecret(t)
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errTooManyOpen)}
	aborted := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}
	// Three silent connections are accepted, then three errors come,
	// then the host's connection.
	script := make(chan error, 10)
	for _, step := range []error{nil, nil, nil, emfile, aborted, emfile, nil} {
		script <- step
	}
	a, addr, res := startAcceptor(t, s, MaxUnproven, time.Minute, time.Now().Add(time.Minute), nil, func(l net.Listener) net.Listener {
		return &scriptedListener{Listener: l, script: script, closed: make(chan struct{})}
	})
	conns := dialSilent(t, addr, 3)
	if err := hostProve(t, addr, s); err != nil {
		t.Fatalf("host after accept errors: %v", err)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("AcceptHost = %v", r.err)
	}
	defer r.conn.Close()
	a.mu.Lock()
	errs, evicted := a.acceptErrs, a.evicted
	a.mu.Unlock()
	// Each EMFILE closes the oldest and lowers the cap to what was held
	// less one (3 → 2, then 1); the host's connection then evicts the last.
	if errs != 3 || evicted != 3 {
		t.Errorf("%d accept errors and %d evictions; want 3 and 3", errs, evicted)
	}
	if _, ended := readToEnd(conns[0], 5*time.Second); !ended {
		t.Error("the oldest silent connection was not closed")
	}
}

// An unproven connection is closed after the handshake timeout.
func TestAcceptHostUnprovenTimeout(t *testing.T) {
	t.Parallel()
	s := mustSecret(t)
	stop := make(chan struct{})
	defer close(stop)
	_, addr, _ := startAcceptor(t, s, MaxUnproven, 100*time.Millisecond, time.Now().Add(time.Minute), stop, nil)
	c := dialSilent(t, addr, 1)[0]
	t0 := time.Now()
	got, ended := readToEnd(c, 10*time.Second)
	if !ended || len(got) != GreetingSize {
		t.Fatalf("silent connection got %d bytes, ended=%v after %v; want the greeting, then the end", len(got), ended, time.Since(t0))
	}
}

// No host by the deadline, or stop: AcceptHost fails, closes the listener
// and every connection. A host of another version that connected is named
// in the error.
func TestAcceptHostGivesUp(t *testing.T) {
	t.Parallel()
	s := mustSecret(t)
	for _, tc := range []struct {
		name    string
		stop    bool
		version uint32 // a host of another version connects first
		want    string
	}{
		{"deadline", false, 0, "no host connected"},
		{"stop", true, 0, "host went away"},
		{"other version", false, 9, fmt.Sprintf("a host speaking plugwire protocol 9 connected, this plugin speaks %d", ProtocolVersion)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stop := make(chan struct{})
			deadline := time.Now().Add(testutil.Slack(300 * time.Millisecond))
			if tc.stop {
				deadline = time.Now().Add(time.Minute)
			}
			_, addr, res := startAcceptor(t, s, MaxUnproven, time.Minute, deadline, stop, nil)
			silent := dialSilent(t, addr, 1)[0]
			if tc.version != 0 {
				c := dialSilent(t, addr, 1)[0]
				g := make([]byte, GreetingSize)
				if _, err := io.ReadFull(c, g); err != nil {
					t.Fatal(err)
				}
				_, _ = c.Write(Intro(tc.version))
				if _, ended := readToEnd(c, 5*time.Second); !ended {
					t.Fatal("a host of another version was not closed")
				}
			}
			if tc.stop {
				close(stop)
			}
			r := <-res
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("AcceptHost = %v, %v; want an error saying %q", r.conn, r.err, tc.want)
			}
			if tc.version != 0 && !errors.Is(r.err, ErrVersionMismatch) {
				t.Errorf("AcceptHost = %v, want ErrVersionMismatch", r.err)
			}
			if _, ended := readToEnd(silent, 5*time.Second); !ended {
				t.Error("a silent connection is still open after AcceptHost gave up")
			}
			if c, err := net.Dial("tcp4", addr); err == nil {
				c.Close()
				t.Error("the listener still accepts after AcceptHost gave up")
			}
		})
	}
}
