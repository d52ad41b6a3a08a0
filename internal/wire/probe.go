package wire

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Protocol 1 (plugwire before protocol 2) had the host speak first: a
// hello of magic, version, a nonce and the host's proof over that nonce,
// which the plugin answered with magic, its version, a status and its own
// proof. A protocol-1 plugin sends nothing until it has read a whole
// hello, so a host of protocol 2 or later, whose intro is shorter, would
// wait for its greeting until the plugin gave up (5 s). Since protocol 2
// every plugin greets first, so a host that has no greeting a moment
// after connecting asks, on a second connection, in protocol 1's words:
// a protocol-1 plugin answers that one at once with its version, and a
// later plugin takes it for a connection that failed to prove the secret
// and closes it, which changes nothing for the first.
const (
	v1HelloSize = IntroSize + nonceSize + macSize
	v1ReplySize = IntroSize + 1 + macSize
)

// probeAfter is how long a host waits for the plugin's greeting before it
// asks in protocol 1's words. A plugwire plugin of protocol 2 or later
// greets as it accepts; one that is merely slow to greet gets a probe it
// ignores.
const probeAfter = 100 * time.Millisecond

// v1Hello returns a protocol-1 hello from a host of ProtocolVersion, and
// its nonce.
func v1Hello(s Secret) (hello, nonce []byte, err error) {
	nonce = make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	hello = append(Intro(ProtocolVersion), nonce...)
	return append(hello, s.mac("host", nonce)...), nonce, nil
}

// oldProbe asks the plugin at addr, on a connection of its own, whether it
// speaks protocol 1; see probeAfter.
type oldProbe struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	conn    net.Conn
	version uint32 // the plugin's version when it answered as protocol 1
}

// startOldProbe starts the probe of the plugin main is connected to: after
// probeAfter, unless stopped, it dials the same address, sends a protocol-1
// hello proving s and reads the answer. An answer proving s with another
// version is recorded, and ends main's read (its read deadline is set to
// now), so that the host reports the mismatch at once.
func startOldProbe(main net.Conn, s Secret, deadline time.Time) *oldProbe {
	p := &oldProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTimer(probeAfter)
		defer t.Stop()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		d := net.Dialer{Deadline: deadline}
		conn, err := d.Dial("tcp", main.RemoteAddr().String())
		if err != nil {
			return
		}
		p.mu.Lock()
		select {
		case <-p.stop:
			p.mu.Unlock()
			_ = conn.Close()
			return
		default:
		}
		p.conn = conn
		p.mu.Unlock()
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		hello, nonce, err := v1Hello(s)
		if err != nil {
			return
		}
		if _, err := conn.Write(hello); err != nil {
			return
		}
		reply := make([]byte, v1ReplySize)
		if _, err := io.ReadFull(conn, reply); err != nil {
			return // a later plugin, which closed it, or one gone
		}
		v, ok := version(reply)
		if !ok || v == ProtocolVersion || !hmac.Equal(reply[IntroSize+1:], s.mac("plugin", nonce)) {
			return
		}
		p.mu.Lock()
		p.version = v
		p.mu.Unlock()
		_ = main.SetReadDeadline(time.Now())
	}()
	return p
}

// end ends the probe (nil: none), given how the read of the greeting ended, and
// returns the version a protocol-1 plugin answered with, or 0. When the
// greeting came, or the host closed the connection (its start was
// cancelled), the probe is stopped at once. Otherwise a probe under way
// may be what ended the read, or about to read the answer of a protocol-1
// plugin that then exits, which ends the first connection too: it is
// waited for (its reads end by the deadline, or when the plugin closes
// it).
func (p *oldProbe) end(readErr error) uint32 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	close(p.stop)
	if p.conn != nil && (readErr == nil || errors.Is(readErr, net.ErrClosed)) {
		_ = p.conn.Close()
	}
	p.mu.Unlock()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}
