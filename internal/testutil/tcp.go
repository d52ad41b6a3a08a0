package testutil

import (
	"net"
	"testing"
)

// TCPPair returns both ends of a loopback TCP connection: the dialer's and
// the acceptor's, both closed when the test ends. plugwire's wire needs
// TCP's buffering: both sides write their first message without waiting
// for the other's.
func TCPPair(tb testing.TB) (dialed, accepted net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	return tcpPair(tb, ln, func(addr string) (net.Conn, error) { return net.Dial("tcp4", addr) })
}

// tcpPair connects dial's end to ln's and closes ln. When either side
// fails it ends the test without waiting for the other to connect, and
// closes what the other side opened.
func tcpPair(tb testing.TB, ln net.Listener, dial func(addr string) (net.Conn, error)) (dialed, accepted net.Conn) {
	tb.Helper()
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		ch <- result{c, err}
	}()
	addr := ln.Addr().String()
	dialed, err := dial(addr)
	if err != nil {
		ln.Close() // ends the Accept, which nothing will connect to
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
		tb.Fatalf("dial %s: %v", addr, err)
	}
	r := <-ch
	if r.err != nil {
		dialed.Close()
		tb.Fatalf("accept on %s: %v", addr, r.err)
	}
	tb.Cleanup(func() {
		dialed.Close()
		r.c.Close()
	})
	return dialed, r.c
}
