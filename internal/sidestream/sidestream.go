// Package sidestream moves the bytes of package contract's stream
// arguments (io.Reader, io.Writer) off yamux, onto a TCP connection of
// their own: yamux, as go-plugin configures it (a fixed 256 KiB window),
// moves 0.25-0.6 of what plain loopback TCP does.
//
// Each stream still opens its MuxBroker stream, the control path. On it,
// the plugin's side (caller or callee) sends a first frame before
// anything else: 'u' and an address, where it listens once for the host
// (wire.AcceptHost: the connection must prove the launch's secret), or
// 'y', and the stream stays on the broker stream. The host's side reads
// that frame before it sends anything, dials, and proves the secret
// (wire.SendHello, Pending.Check) before the stream's frames go over the
// new connection.
package sidestream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/wire"
)

// Side is what one plugwire connection's streams need to move their bytes
// on connections of their own.
type Side struct {
	// Secret is the launch's secret, which every side connection proves.
	Secret wire.Secret
	// Listen opens a plugin's one-shot listener (wire.Listen on the
	// plugin's port range); nil on a host. When it fails, the stream
	// stays on the broker stream.
	Listen func() (net.Listener, error)
}

// PortRange returns a Listen on 127.0.0.1's minPort..maxPort.
func PortRange(minPort, maxPort int) func() (net.Listener, error) {
	return func() (net.Listener, error) { return wire.Listen(minPort, maxPort) }
}

// Plugin is a plugin.Plugin (package contract's) that takes a Side: the
// Plugin it returns makes servers and clients whose streams use it.
type Plugin interface {
	WithSide(s *Side) plugin.Plugin
}

// Wrap returns plugins with every Plugin that takes a Side given s.
func Wrap(plugins map[string]plugin.Plugin, s *Side) map[string]plugin.Plugin {
	out := make(map[string]plugin.Plugin, len(plugins))
	for name, p := range plugins {
		if sp, ok := p.(Plugin); ok {
			p = sp.WithSide(s)
		}
		out[name] = p
	}
	return out
}

// The first frame's types, and the size of its header (type, big-endian
// uint32 length), package contract's frame header.
const (
	frameSide = 'u'
	frameStay = 'y'
	frameNo   = 'n' // host → plugin, after 'u': it will not connect
	hdrSize   = 5
)

// ErrNoSide is the error of a stream that a plugin moves to a side
// connection on a host that serves the contract without plugwire's
// connection (a contract's Plugin wrapped in a Plugin of the host's own,
// which does not pass WithSide on): the host cannot prove the secret.
var ErrNoSide = errors.New("this host serves the contract without plugwire's connection, and cannot follow a stream to its side connection: give the contract's Plugin itself to host.Config.Plugins")

// acceptWait bounds how long a plugin waits for its host to dial the
// side listener; the host dials as soon as it reads the address, so only
// a host kept off the CPU takes long. The stream's end (its call's) ends
// the wait at once.
// A variable for tests.
var acceptWait = 2 * wire.HandshakeTimeout

// noWait bounds the write of a host's 'n': 5 bytes on a stream it wrote
// nothing else on.
const noWait = time.Second

// Counters, read by tests: side connections a host dialed and proved, and
// streams that stayed on the broker stream ('y').
var (
	Dialed atomic.Int64
	Stayed atomic.Int64
)

// beforeDial, when set (by tests), is called by a host with the address a
// plugin sent, before it dials.
var beforeDial atomic.Pointer[func(addr string)]

// SetBeforeDial makes a host call f with the address a plugin sends,
// before it dials it; nil undoes it. For tests.
func SetBeforeDial(f func(addr string)) {
	if f == nil {
		beforeDial.Store(nil)
		return
	}
	beforeDial.Store(&f)
}

// past is a deadline that has passed: it wakes a blocked Read or Write.
var past = time.Unix(1, 0)

// Conn is one stream's connection: the broker stream until the first
// frame has settled where the bytes go, then the side connection (or the
// broker stream, for 'y'). Read and Write wait for that. Close closes
// both, and ends the settling at once.
type Conn struct {
	broker net.Conn
	plugin bool
	ready  chan struct{}
	stop   chan struct{}
	once   sync.Once

	mu      sync.Mutex
	closed  bool
	settled bool     // settle has decided (io, err); ready closes next
	tcp     net.Conn // the side connection, once dialed or accepted
	io      net.Conn // where the bytes go, once ready
	err     error    // why there is nowhere, once ready
}

// New returns the connection of the stream opened as broker. plugin says
// which side this process is; s is nil where there is no plugwire side
// information (go-plugin's own serving): a plugin then sends 'y', and a
// host refuses 'u'.
func New(broker net.Conn, s *Side, plugin bool) *Conn {
	c := &Conn{broker: broker, plugin: plugin, ready: make(chan struct{}), stop: make(chan struct{})}
	go c.settle(s, plugin)
	return c
}

func (c *Conn) settle(s *Side, plugin bool) {
	var conn net.Conn
	var err error
	if plugin {
		conn, err = c.offer(s)
	} else {
		conn, err = c.follow(s)
	}
	c.mu.Lock()
	if c.closed {
		err = net.ErrClosed // what ended the settling, whatever it failed with
	}
	if err != nil && c.tcp != nil {
		_ = c.tcp.Close()
	}
	c.io, c.err = conn, err
	c.settled = true
	c.mu.Unlock()
	if err != nil {
		if !plugin && conn != c.broker {
			// A plugin that sent 'u' waits for this host's connection
			// until acceptWait, holding its listener and its method's
			// call: 'n' ends that at once, whatever failed here, the
			// host's Close (its call ended) included. Not after 'y':
			// the plugin reads frames there. The past deadline of a
			// caller that gave the stream up (SetDeadline, then Close)
			// must not stop it: yamux ignores it with window to spare,
			// a plain connection would not.
			_ = c.broker.SetWriteDeadline(time.Now().Add(noWait))
			_ = writeFirst(c.broker, frameNo, "")
		}
		// The other side learns at once that the stream failed.
		_ = c.broker.SetReadDeadline(past)
		_ = c.broker.Close()
	}
	close(c.ready)
}

// setTCP records the side connection, unless Close came first.
func (c *Conn) setTCP(conn net.Conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = conn.Close()
		return net.ErrClosed
	}
	c.tcp = conn
	return nil
}

func writeFirst(w io.Writer, typ byte, body string) error {
	b := make([]byte, hdrSize+len(body))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:hdrSize], uint32(len(body)))
	copy(b[hdrSize:], body)
	_, err := w.Write(b)
	return err
}

// offer is the plugin's side: listen, send the address, accept the host.
func (c *Conn) offer(s *Side) (net.Conn, error) {
	var ln net.Listener
	if s != nil && s.Listen != nil {
		ln, _ = s.Listen() // a full port range: the broker stream will do
	}
	if ln == nil {
		Stayed.Add(1)
		if err := writeFirst(c.broker, frameStay, ""); err != nil {
			return nil, err
		}
		return c.broker, nil
	}
	if err := writeFirst(c.broker, frameSide, ln.Addr().String()); err != nil {
		_ = ln.Close()
		return nil, err
	}
	// The host sends nothing more on the broker stream but 'n', when it
	// will not connect (it failed, has no side information, or gave the
	// stream up). Its end
	// means nothing: a host that sent its last bytes on the side
	// connection closes both, maybe before AcceptHost has returned here.
	refused := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		var hdr [hdrSize]byte
		if _, err := io.ReadFull(c.broker, hdr[:]); err == nil && hdr[0] == frameNo {
			close(refused)
		}
	}()
	go func() {
		select {
		case <-c.stop:
		case <-refused:
		case <-c.ready:
			return
		}
		close(stop)
	}()
	wait := acceptWait
	deadline := time.Now().Add(wait)
	addr := ln.Addr() // AcceptHost closes ln
	conn, err := wire.AcceptHost(ln, s.Secret, deadline, stop)
	if err != nil {
		switch {
		case wire.IsClosed(c.stop):
		case wire.IsClosed(refused):
			return nil, fmt.Errorf("side connection at %s: the host will not connect (it failed, or it serves this contract without plugwire's connection: give the contract's Plugin itself to host.Config.Plugins)", addr)
		case !time.Now().Before(deadline) && !errors.Is(err, wire.ErrVersionMismatch):
			// Not AcceptHost's words, which speak of a start.
			return nil, fmt.Errorf("side connection at %s: the host did not connect and prove the secret within %v", addr, wait)
		}
		return nil, fmt.Errorf("side connection at %s: %w", addr, err)
	}
	if err := c.setTCP(conn); err != nil {
		return nil, err
	}
	return conn, nil
}

// follow is the host's side: read the first frame, dial, prove.
func (c *Conn) follow(s *Side) (net.Conn, error) {
	var hdr [hdrSize]byte
	if _, err := io.ReadFull(c.broker, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	switch {
	case hdr[0] == frameStay && n == 0:
		Stayed.Add(1)
		return c.broker, nil
	case hdr[0] == frameStay:
		return nil, fmt.Errorf("%w: a stream's 'y' first frame has a %d-byte body (want none)", wire.ErrHandshake, n)
	case hdr[0] != frameSide:
		return nil, fmt.Errorf("%w: a stream's first frame has type %q (want 'u' or 'y')", wire.ErrHandshake, hdr[0])
	case n > wire.MaxAddressLine:
		return nil, fmt.Errorf("%w: a stream's side address is %d bytes (at most %d)", wire.ErrHandshake, n, wire.MaxAddressLine)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.broker, b); err != nil {
		return nil, err
	}
	conn, err := c.dial(s, string(b))
	if err != nil {
		return nil, err // settle says 'n': the plugin stops waiting
	}
	Dialed.Add(1)
	return conn, nil
}

// dial connects to the address a plugin sent and proves the secret.
func (c *Conn) dial(s *Side, sent string) (net.Conn, error) {
	addr, err := loopback(sent)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: the plugin moves a stream to %s", ErrNoSide, addr)
	}
	if f := beforeDial.Load(); f != nil {
		(*f)(addr)
	}
	deadline := time.Now().Add(wire.HandshakeTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("side connection to %s: %w", addr, err)
	}
	if err := c.setTCP(conn); err != nil {
		return nil, err
	}
	p, err := wire.SendHello(conn, s.Secret, deadline)
	if err == nil {
		err = p.Check()
	}
	if err != nil {
		return nil, fmt.Errorf("side connection to %s: %w", addr, err)
	}
	return conn, nil
}

// loopback checks the address a plugin sent: a loopback IP and a port.
func loopback(addr string) (string, error) {
	host, portS, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portS)
	ip := net.ParseIP(host)
	if err != nil || perr != nil || port < 1 || port > 65535 || ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("%w: a stream's side address %s is not a loopback address and port", wire.ErrHandshake, wire.Quote(addr))
	}
	return addr, nil
}

func (c *Conn) wait() (net.Conn, error) {
	<-c.ready
	return c.io, c.err
}

// Read reads from where the stream's bytes go.
func (c *Conn) Read(b []byte) (int, error) {
	conn, err := c.wait()
	if err != nil {
		return 0, err
	}
	return conn.Read(b)
}

// Write writes to where the stream's bytes go.
func (c *Conn) Write(b []byte) (int, error) {
	conn, err := c.wait()
	if err != nil {
		return 0, err
	}
	return conn.Write(b)
}

// Vectored waits until the stream has settled and reports whether its
// bytes go over a side connection, where WriteBuffers is one writev.
func (c *Conn) Vectored() bool {
	conn, err := c.wait()
	if err != nil {
		return false
	}
	_, ok := conn.(*net.TCPConn)
	return ok
}

// WriteBuffers writes bufs where the stream's bytes go: in one writev on
// a side connection (see Vectored), one Write a buffer on the broker
// stream.
func (c *Conn) WriteBuffers(bufs *net.Buffers) (int64, error) {
	conn, err := c.wait()
	if err != nil {
		return 0, err
	}
	return bufs.WriteTo(conn)
}

// Close closes the broker stream and the side connection, settled or
// not. A host's stream still settling is left to settle to close the
// broker stream, which it does at once, after its 'n'.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true // before stop: settle then reports the Close
	tcp := c.tcp
	settling := !c.plugin && !c.settled
	c.mu.Unlock()
	c.once.Do(func() { close(c.stop) })
	// Wake the host's read of the first frame, or the plugin's watch of
	// the broker stream (offer): a yamux stream's Close does not. Nothing
	// reads a stream after its Close.
	_ = c.broker.SetReadDeadline(past)
	if tcp != nil {
		_ = tcp.Close()
	}
	if settling {
		// stop, the deadline and tcp's Close end every wait of follow:
		// settle sends 'n' and closes the broker stream right away.
		return nil
	}
	return c.broker.Close()
}

// LocalAddr is the broker stream's.
func (c *Conn) LocalAddr() net.Addr { return c.broker.LocalAddr() }

// RemoteAddr is the broker stream's.
func (c *Conn) RemoteAddr() net.Addr { return c.broker.RemoteAddr() }

// SetDeadline sets the deadline of both connections.
func (c *Conn) SetDeadline(t time.Time) error {
	return c.each(func(conn net.Conn) error { return conn.SetDeadline(t) })
}

// SetReadDeadline sets the read deadline of both connections.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.each(func(conn net.Conn) error { return conn.SetReadDeadline(t) })
}

// SetWriteDeadline sets the write deadline of both connections.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.each(func(conn net.Conn) error { return conn.SetWriteDeadline(t) })
}

func (c *Conn) each(f func(net.Conn) error) error {
	c.mu.Lock()
	tcp := c.tcp
	c.mu.Unlock()
	err := f(c.broker)
	if tcp != nil {
		err = errors.Join(err, f(tcp))
	}
	return err
}
