package bench

import (
	"net"
	"os"
	"time"

	"github.com/plugwire/plugwire/internal/wire"
)

// preambleMode is how a floor side proves its secret before go-plugin's
// protocol starts.
type preambleMode int

const (
	noPreamble        preambleMode = iota
	preambleWait                   // wire.Prove, then go-plugin (plugwire before it pipelined)
	preamblePipelined              // send the hello, start go-plugin at once (as plugwire does)
)

// hostPreamble runs the host's side of the preamble on conn. In pipelined
// mode it only sends the hello and returns conn wrapped so that the first
// read checks the plugin's answer, as plugwire's host does with
// muxconn.ReadAfter.
func hostPreamble(mode preambleMode, conn net.Conn, s wire.Secret, deadline time.Time) (net.Conn, error) {
	switch mode {
	case preambleWait:
		if err := wire.Prove(conn, s, deadline); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return conn, nil
	case preamblePipelined:
		p, err := wire.SendHello(conn, s, deadline)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		return &answerConn{Conn: conn, p: p}, nil
	}
	return conn, nil
}

// answerConn is a host's connection whose first Read checks the plugin's
// answer to the hello.
type answerConn struct {
	net.Conn
	p *wire.Pending
}

func (c *answerConn) Read(b []byte) (int, error) {
	if err := c.p.Check(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// acceptProven listens and announces like a plugwire plugin and returns
// the one connection that proved the secret in the environment.
func acceptProven() (net.Conn, error) {
	s, err := wire.ParseSecret(os.Getenv(wire.EnvSecret))
	if err != nil {
		return nil, err
	}
	ln, err := listenAnnounce()
	if err != nil {
		return nil, err
	}
	return wire.AcceptHost(ln, s, time.Now().Add(time.Minute), nil)
}
