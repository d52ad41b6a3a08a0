// Package muxconn provides a net.Conn wrapper tuned for carrying a yamux
// session (as used by go-plugin's net/rpc transport).
//
// yamux v0.1.2 writes every frame from a single goroutine as two Writes: the
// 12-byte header, then the body. With TCP_NODELAY that is two syscalls and
// often two segments per message. Conn holds back a data-frame header and
// sends it together with the following Write (the body) in one call.
//
// Conn also makes teardown quiet: yamux logs "[ERR] yamux: Failed to write
// header" whenever a conn Write fails. Conn therefore never reports write
// errors; after a failed Write it sends nothing more, Read drains what the
// peer sent, and the session ends through its read side, which sees io.EOF.
package muxconn

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugwire/plugwire/internal/frame"
)

// copyMax is the largest header+body that is copied into one buffer and sent
// with a single Write on a TCP or Unix socket; larger frames go out with one
// writev (net.Buffers) instead. On other conns (net.Buffers would fall back
// to one Write per buffer) every frame is copied; yamux bounds a frame by its
// stream window (256 KiB by default).
const copyMax = 32 << 10

// Conn is a net.Conn that coalesces each yamux data-frame header with its
// body into one underlying write and hides write failures and post-Close
// errors from yamux. Create it with Wrap. It is safe for concurrent use.
type Conn struct {
	c net.Conn

	wmu     sync.Mutex // serialises writers; guards the fields below
	held    [frame.HeaderSize]byte
	holding bool // held contains a data header awaiting its body
	buf     []byte
	vec     [2][]byte
	bufs    net.Buffers
	writev  bool // net.Buffers.WriteTo(c) is a single writev

	wclosed   bool        // the write side is closed; guarded by wmu
	shut      atomic.Bool // CloseWrite was called: Writes from then on are discarded
	drainBy   time.Time   // read deadline set by a failed write; guarded by wmu
	dead      atomic.Bool // set by Close or a failed write, before closing c
	closeOnce sync.Once
	closeErr  error
	errMu     sync.Mutex
	err       error // first underlying write error

	st      streams // the streams open; see streams
	rmu     sync.Mutex
	gate    func() error // run by the first Read; see ReadAfter
	pending []byte       // forged FIN frames still to be read
	ended   bool         // the connection ended; Read returns io.EOF after pending
	eof     chan struct{}
	eofOnce sync.Once
}

// Wrap returns c wrapped so that yamux running over it sends each data frame
// (header and body) with a single write on c, never sees a write error, and
// reads io.EOF once the connection has been closed by Close or by a failed
// write. Deadlines and addresses are those of c.
func Wrap(c net.Conn) *Conn {
	w := &Conn{c: c, eof: make(chan struct{})}
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		w.writev = true
	}
	return w
}

// isDataHeader reports whether p is exactly one yamux header of a data frame
// that has a body, i.e. a header yamux follows with a Write of the body.
func isDataHeader(p []byte) bool {
	return len(p) == frame.HeaderSize && p[0] == frame.Version && p[1] == frame.TypeData &&
		binary.BigEndian.Uint32(p[8:12]) > 0
}

// Write sends p on the underlying connection. A Write of exactly one yamux
// data-frame header with a non-zero length is held back and sent together
// with the next Write (yamux's write of the body), whatever that contains;
// every other Write is sent at once. Write always returns len(p), nil: after
// Close or CloseWrite it discards p, and when the underlying write fails it
// records the error (see Err) and closes the write side (or, where it
// cannot, the connection); Read then ends within a second.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed || c.shut.Load() || c.dead.Load() {
		// Nothing is sent any more, but the streams yamux opens and
		// closes still count (see streams).
		switch {
		case c.holding:
			c.holding = false // p is the body of a discarded header
		case len(p) == frame.HeaderSize:
			c.st.frame(p, finSent)
			c.holding = isDataHeader(p)
		}
		return len(p), nil
	}
	var err error
	switch {
	case c.holding && len(p) == 0:
		return 0, nil
	case c.holding:
		c.holding = false
		err = c.writeHeld(p)
	case isDataHeader(p):
		c.st.frame(p, finSent)
		copy(c.held[:], p)
		c.holding = true
		return len(p), nil
	default:
		if len(p) == frame.HeaderSize {
			c.st.frame(p, finSent)
		}
		_, err = c.c.Write(p)
	}
	if err != nil {
		c.fail(err)
	}
	return len(p), nil
}

// writeHeld writes the held header followed by p in a single call.
func (c *Conn) writeHeld(p []byte) error {
	if !c.writev || frame.HeaderSize+len(p) <= copyMax {
		c.buf = append(append(c.buf[:0], c.held[:]...), p...)
		_, err := c.c.Write(c.buf)
		return err
	}
	c.vec = [2][]byte{c.held[:], p}
	c.bufs = c.vec[:]
	_, err := c.bufs.WriteTo(c.c)
	c.vec, c.bufs = [2][]byte{}, nil // do not retain p
	return err
}

// fail records a write error that was not caused by our own Close and shuts
// the connection down.
func (c *Conn) fail(err error) {
	if c.dead.Load() {
		return // the error comes from Close; nothing failed
	}
	c.record(fmt.Errorf("muxconn: write to underlying conn failed: %w", err))
	// Stop writing, but let Read drain what the peer sent up to its end,
	// so that it ends at a frame boundary where the streams can be ended.
	// The deadline bounds a peer that sends on without ever ending.
	c.wclosed = true
	if cw, ok := c.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite() // fails on a reset connection, which is fine
		c.drainBy = time.Now().Add(drainTimeout)
		if c.c.SetReadDeadline(c.drainBy) == nil {
			return
		}
	}
	c.Close()
}

// drainTimeout bounds how long Read goes on after a failed write.
const drainTimeout = time.Second

// record keeps err for Err unless an error is kept already or the failure
// comes from our own Close.
func (c *Conn) record(err error) {
	if c.dead.Load() {
		return
	}
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

// Err returns the first error of the underlying connection that Write or
// Read hid from yamux (a failed write, a reset), or nil if there was none.
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Read reads from the underlying connection. Once the connection has been
// closed by Close or by a failed write, Read returns io.EOF instead of the
// underlying error, so yamux ends its session without logging. When the
// connection ends, Read first returns a FIN frame for every yamux stream
// the peer has not closed (unless it ended in the middle of a frame), so
// that yamux wakes every reader of a stream, which reads what had arrived
// and then io.EOF, before it shuts the session down.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.ended {
		return 0, c.eofRead()
	}
	n, err := c.read(p)
	c.st.received(p[:n])
	if err == nil {
		return n, nil
	}
	c.ended = true
	c.pending = c.st.fins()
	if n > 0 || len(c.pending) > 0 {
		m := copy(p[n:], c.pending)
		c.pending = c.pending[m:]
		return n + m, nil
	}
	return 0, c.eofRead()
}

// eofRead records that Read returned io.EOF, and returns it.
func (c *Conn) eofRead() error {
	c.eofOnce.Do(func() { close(c.eof) })
	return io.EOF
}

// Ended returns a channel that is closed once Read has returned io.EOF:
// yamux has then handled every frame before it, the forged FINs included,
// and is shutting its session down.
func (c *Conn) Ended() <-chan struct{} { return c.eof }

// ReadAfter makes the first Read run check before it reads anything from
// the connection. When check fails, Read ends the connection as a read
// error does: the error is kept for Err, the connection is closed and
// yamux reads the end of it (after FINs for the streams it opened). The
// host uses it to start yamux while the plugin's answer to its hello is
// still on the way. Call it before anything reads from c.
func (c *Conn) ReadAfter(check func() error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.gate = check
}

func (c *Conn) read(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, io.EOF
	}
	if gate := c.gate; gate != nil {
		c.gate = nil
		if err := gate(); err != nil {
			c.record(err)
			_ = c.Close()
			return 0, io.EOF
		}
		// The gate may have cleared a deadline a failed write set.
		c.wmu.Lock()
		drainBy := c.drainBy
		c.wmu.Unlock()
		if !drainBy.IsZero() {
			_ = c.c.SetReadDeadline(drainBy)
		}
	}
	n, err := c.c.Read(p)
	if err != nil && c.dead.Load() {
		return n, io.EOF // ended by our own Close, which is under way
	}
	if err != nil && err != io.EOF {
		// yamux logs read errors in the middle of a frame ("Failed to read
		// stream data: connection reset by peer" when a plugin dies), and
		// nobody sets deadlines under it: any read error ends the session
		// as EOF does, and is kept for Err.
		c.record(err)
		_ = c.Close()
		err = io.EOF
	}
	return n, err
}

// Close closes the underlying connection; a held header is discarded. Close
// is idempotent, may be called concurrently with Read and Write (which it
// unblocks), and always returns the result of the first close.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.dead.Store(true)
		c.closeErr = c.c.Close()
	})
	return c.closeErr
}

// CloseWrite closes the write side of the connection: the peer reads the
// end of it, while Read goes on returning what the peer sends until the
// peer closes its side. Later Writes are discarded, a held header too.
// Where the underlying connection cannot half-close, CloseWrite is Close.
//
// CloseWrite never waits for a Write in progress, which may be stuck for
// as long as the peer reads nothing (a plugin stopped at a breakpoint with
// the socket buffers full): the write side is then closed once that Write
// returns, so that the peer still reads whole frames, or by Close, which
// ends the Write at once.
func (c *Conn) CloseWrite() error {
	c.shut.Store(true)
	if !c.wmu.TryLock() {
		go func() {
			c.wmu.Lock()
			defer c.wmu.Unlock()
			_ = c.closeWrite()
		}()
		return nil
	}
	defer c.wmu.Unlock()
	return c.closeWrite()
}

// closeWrite closes the write side; wmu is held.
func (c *Conn) closeWrite() error {
	if c.wclosed && !c.dead.Load() {
		return nil // closed already, by CloseWrite or a failed write
	}
	c.wclosed = true // a held header is discarded with its body
	if cw, ok := c.c.(interface{ CloseWrite() error }); ok && !c.dead.Load() {
		return cw.CloseWrite()
	}
	return c.Close()
}

// LocalAddr returns the underlying connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.c.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }

// SetDeadline sets the underlying connection's read and write deadlines.
// A write that times out counts as a failed write and closes the connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.SetDeadline(t) }

// SetReadDeadline sets the underlying connection's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// SetWriteDeadline sets the underlying connection's write deadline.
// A write that times out counts as a failed write and closes the connection.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.c.SetWriteDeadline(t) }
