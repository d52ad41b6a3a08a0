package testutil

import (
	"net"
	"testing"
)

// TCPPair returns both ends of a loopback TCP connection: the dialer's and
// the acceptor's. plugwire's wire needs TCP's buffering: both sides write
// their first message without waiting for the other's.
func TCPPair(tb testing.TB) (dialed, accepted net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
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
	dialed, err = net.Dial("tcp4", ln.Addr().String())
	r := <-ch
	if err != nil || r.err != nil {
		tb.Fatalf("dial: %v; accept: %v", err, r.err)
	}
	return dialed, r.c
}
