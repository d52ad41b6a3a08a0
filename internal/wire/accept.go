package wire

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// MaxUnproven is how many accepted connections that have not proven the
// secret yet a plugin holds at once. Accepting one more closes the oldest:
// a local process that opens connections and keeps them silent must keep
// opening new ones to hold any, while the host, whose connection is the
// newest when it arrives, proves itself within a round trip. (Closing the
// newest instead would let a few silent connections keep the host out for
// good.)
const MaxUnproven = 32

// acceptBackoff bounds the wait between Accept retries after an error,
// as net/http's Server.Serve does: from 5 ms, doubling, up to 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// AcceptHost accepts connections on ln until one proves s and returns
// that connection: the plugin's one host connection. ln is closed, and so
// are connections still in their preamble, as AcceptHost returns (just
// after, so that serving starts at once).
//
// It holds against local processes that connect to the port: a connection
// that does not prove the secret is closed and does not count; one that
// says nothing is closed after HandshakeTimeout, or earlier when
// MaxUnproven newer ones arrive. When Accept fails for want of
// descriptors, the oldest unproven connection is closed to free one and
// the cap comes down to what the process can afford; any other Accept
// error (a connection reset before it was accepted) is retried with
// back-off, as net/http does. AcceptHost gives up when no host has proven itself by
// deadline, or when stop is closed; it then returns once ln and every
// connection are closed.
func AcceptHost(ln net.Listener, s Secret, deadline time.Time, stop <-chan struct{}) (net.Conn, error) {
	a := &acceptor{ln: ln, s: s, max: MaxUnproven, timeout: HandshakeTimeout, finished: make(chan struct{})}
	return a.run(deadline, stop)
}

// ServeHosts accepts connections on ln, as AcceptHost does, and calls
// serve with each one that proves s, in a goroutine of its own (serve owns
// the connection), until stop is closed: for a plugin in debug mode, which
// serves host after host. Connections that prove nothing are held as
// AcceptHost holds them (at most MaxUnproven, the oldest closed first), so
// however many a local process opens and keeps silent, a host that proves
// s is handed to serve within a round trip. It returns once ln is closed
// and every serve has returned: nil after stop, or why accepting failed.
func ServeHosts(ln net.Listener, s Secret, stop <-chan struct{}, serve func(net.Conn)) error {
	a := &acceptor{ln: ln, s: s, max: MaxUnproven, timeout: HandshakeTimeout, finished: make(chan struct{}), serve: serve}
	_, err := a.run(time.Now().Add(100*365*24*time.Hour), stop)
	if IsClosed(stop) {
		return nil
	}
	return err
}

// acceptor is one AcceptHost, or one ServeHosts.
type acceptor struct {
	ln      net.Listener
	s       Secret
	max     int            // MaxUnproven
	timeout time.Duration  // HandshakeTimeout
	serve   func(net.Conn) // ServeHosts's; nil for AcceptHost

	mu       sync.Mutex
	unproven []net.Conn // in the order accepted
	other    uint32     // a version another host introduced itself with
	conn     net.Conn   // the result
	err      error
	finished chan struct{}
	wg       sync.WaitGroup

	// Counters, for tests.
	accepted, evicted, acceptErrs int
}

func (a *acceptor) run(deadline time.Time, stop <-chan struct{}) (net.Conn, error) {
	timer := time.AfterFunc(time.Until(deadline), func() {
		a.finish(nil, a.timeoutErr())
	})
	defer timer.Stop()
	go func() {
		select {
		case <-stop:
			a.finish(nil, errors.New("host went away before connecting"))
		case <-a.finished:
		}
	}()
	a.wg.Add(1)
	go a.acceptLoop()
	<-a.finished
	if a.err != nil {
		// Leave nothing behind: the listener is closed and every
		// goroutine is done when a plugin gives up.
		a.wg.Wait()
		return nil, a.err
	}
	// The host's bytes are waiting; the listener and the connections
	// that did not prove anything are closed in the background.
	return a.conn, nil
}

func (a *acceptor) timeoutErr() error {
	a.mu.Lock()
	other := a.other
	a.mu.Unlock()
	err := fmt.Errorf("no host connected to %s and proved its secret within the start deadline", a.ln.Addr())
	if other != 0 {
		err = fmt.Errorf("%w: a host speaking plugwire protocol %d connected, this plugin speaks %d; build both against the same plugwire release",
			ErrVersionMismatch, other, ProtocolVersion)
	}
	return err
}

// finish settles the result once: it closes the listener and every other
// connection.
func (a *acceptor) finish(conn net.Conn, err error) {
	a.mu.Lock()
	if IsClosed(a.finished) {
		a.mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
		return
	}
	a.conn, a.err = conn, err
	close(a.finished)
	others := a.unproven
	a.unproven = nil
	a.mu.Unlock()
	_ = a.ln.Close()
	for _, c := range others {
		if c != conn {
			_ = c.Close()
		}
	}
}

func (a *acceptor) acceptLoop() {
	defer a.wg.Done()
	var delay time.Duration
	for {
		conn, err := a.ln.Accept()
		if err != nil {
			if IsClosed(a.finished) {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				a.finish(nil, fmt.Errorf("accepting the host's connection on %s: %w", a.ln.Addr(), err))
				return
			}
			a.mu.Lock()
			a.acceptErrs++
			a.mu.Unlock()
			if outOfDescriptors(err) && a.shrink() {
				continue // a descriptor is free again
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-a.finished:
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		a.mu.Lock()
		if IsClosed(a.finished) {
			a.mu.Unlock()
			_ = conn.Close()
			return
		}
		a.accepted++
		var oldest net.Conn
		if len(a.unproven) >= a.max {
			oldest = a.unproven[0]
			a.unproven = a.unproven[1:]
			a.evicted++
		}
		a.unproven = append(a.unproven, conn)
		a.wg.Add(1)
		a.mu.Unlock()
		if oldest != nil {
			_ = oldest.Close()
		}
		go a.handshake(conn)
	}
}

// shrink is the answer to running out of descriptors: the unproven
// connections held are as many as the process can afford, so the cap
// comes down to one less than that, and the oldest is closed to free a
// descriptor for the next Accept. It reports whether it closed one.
func (a *acceptor) shrink() bool {
	a.mu.Lock()
	if len(a.unproven) == 0 {
		a.mu.Unlock()
		return false
	}
	a.max = max(1, len(a.unproven)-1)
	oldest := a.unproven[0]
	a.unproven = a.unproven[1:]
	a.evicted++
	a.mu.Unlock()
	_ = oldest.Close()
	return true
}

// take removes conn from the unproven connections, so that it is not
// evicted, and reports whether it was still there.
func (a *acceptor) take(conn net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, c := range a.unproven {
		if c == conn {
			a.unproven = append(a.unproven[:i], a.unproven[i+1:]...)
			return true
		}
	}
	return false
}

// handshake runs the plugin's side of the preamble on one connection.
func (a *acceptor) handshake(conn net.Conn) {
	defer a.wg.Done()
	ok, other := prove(conn, a.s, a.timeout, func() bool { return a.take(conn) })
	a.take(conn)
	a.mu.Lock()
	if other != 0 && a.other == 0 {
		a.other = other
	}
	a.mu.Unlock()
	switch {
	case ok && a.serve != nil:
		a.serve(conn)
		return
	case ok:
		a.finish(conn, nil)
		return
	}
	_ = conn.Close()
}

// IsClosed reports whether ch is closed, without waiting.
func IsClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
