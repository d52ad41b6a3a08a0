package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/plugwire/plugwire/internal/wire"
)

// preambleMode is how a floor side proves its secret before go-plugin's
// protocol starts.
type preambleMode int

const (
	noPreamble        preambleMode = iota
	preambleWait                   // as plugwire: wire.Prove, then go-plugin
	preamblePipelined              // send the hello, start go-plugin at once
)

// hostPreamble runs the host's side of the preamble on conn. In pipelined
// mode it only sends the hello and returns conn wrapped so that the first
// read consumes and checks the plugin's answer.
func hostPreamble(mode preambleMode, conn net.Conn, s wire.Secret, deadline time.Time) (net.Conn, error) {
	switch mode {
	case preambleWait:
		if err := wire.Prove(conn, s, deadline); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return conn, nil
	case preamblePipelined:
		// The hello of wire.Prove, without waiting for the answer.
		hello, err := wire.Hello(wire.ProtocolVersion, s)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		if _, err := conn.Write(hello); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return &answerConn{Conn: conn}, nil
	}
	return conn, nil
}

// answerConn is a host's connection whose first Read consumes the
// plugin's 13-byte answer to the hello and fails if it is not "plugwire",
// ProtocolVersion, status 0.
type answerConn struct {
	net.Conn
	once sync.Once
	err  error
}

var errBadAnswer = errors.New("bench: the plugin did not accept the preamble")

func (c *answerConn) Read(p []byte) (int, error) {
	c.once.Do(func() {
		// magic, version, status, then the plugin's 32-byte proof (not
		// checked here: this mode only measures the saved round trip).
		var a [8 + 4 + 1 + 32]byte
		if _, err := io.ReadFull(c.Conn, a[:]); err != nil {
			c.err = fmt.Errorf("%w: %v", errBadAnswer, err)
			return
		}
		if string(a[:8]) != "plugwire" || binary.BigEndian.Uint32(a[8:12]) != wire.ProtocolVersion || a[12] != 0 {
			c.err = fmt.Errorf("%w: answer %q", errBadAnswer, a[:13])
		}
	})
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
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
