package testutil

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalTB records the message of Fatalf, which ends the calling goroutine
// as testing's does, without failing the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// errAccept is what acceptFails's Accept returns.
var errAccept = errors.New("accept fails for the test")

// acceptFails accepts each connection, closes it and returns errAccept.
type acceptFails struct{ net.Listener }

func (l acceptFails) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.Close()
	}
	return nil, errAccept
}

// When its dial or its accept fails, tcpPair ends the test at once, saying
// which failed, and leaves nothing open: its listener is closed and so is
// a dialed connection that was not accepted.
func TestTCPPairFails(t *testing.T) {
	t.Parallel()
	closedAddr := func(t *testing.T) string {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return ln.Addr().String()
	}
	for _, tc := range []struct {
		name   string
		accept bool // the accept fails, not the dial
		want   string
	}{
		{"dial", false, "dial 127.0.0.1:"},
		{"accept", true, "accept on 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tcp, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer tcp.Close()
			ln := tcp
			if tc.accept {
				ln = acceptFails{tcp}
			}
			refused := closedAddr(t)
			var dialed net.Conn
			dial := func(addr string) (net.Conn, error) {
				if !tc.accept {
					addr = refused
				}
				c, err := net.Dial("tcp4", addr)
				dialed = c
				return c, err
			}
			ftb := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				tcpPair(ftb, ln, dial)
			}()
			select {
			case <-done:
			case <-time.After(Slack(10 * time.Second)):
				t.Fatalf("tcpPair with a failing %s did not return within %v", tc.name, Slack(10*time.Second))
			}
			if !strings.HasPrefix(ftb.msg, tc.want) {
				t.Errorf("tcpPair ended the test with %q, want it to start with %q", ftb.msg, tc.want)
			}
			if c, err := net.Dial("tcp4", ln.Addr().String()); err == nil {
				c.Close()
				t.Errorf("tcpPair left its listener on %s open", ln.Addr())
			}
			if dialed != nil {
				if _, err := dialed.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
					t.Errorf("writing to the dialed connection after the accept failed: %v, want net.ErrClosed", err)
				}
			}
		})
	}
}
