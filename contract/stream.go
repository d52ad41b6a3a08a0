package contract

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/internal/sidestream"
)

// An io.Reader or io.Writer argument crosses as a yamux stream of the
// call's connection, opened through the MuxBroker, whose first frame
// moves it to a TCP connection of its own where plugwire serves both sides
// (package sidestream: yamux moves a fraction of what TCP does). The flow
// control is TCP's, or yamux's per-stream window (256 KiB), so a slow side
// slows the other and neither buffers more than that and a chunk. The
// bytes go in frames: a 5-byte header
// (type, length) and a body. A data frame carries bytes; the end frame
// says the producer's io.EOF came; an error frame carries the error the
// producer's Read (or, backwards, the consumer's Write) failed with, so
// that EOF is exact: a stream that ends without its end frame is an
// error, never a short read.
const (
	frameData = 'd'
	frameEnd  = 'e'
	frameErr  = 'x'
	hdrSize   = 5
	chunkSize = 64 << 10
	maxFrame  = 1 << 20 // an error frame's text, at most
)

func putHeader(b []byte, typ byte, n int) {
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:hdrSize], uint32(n))
}

func readHeader(r io.Reader, hdr []byte) (typ byte, n int, err error) {
	if _, err := io.ReadFull(r, hdr[:hdrSize]); err != nil {
		return 0, 0, err
	}
	return hdr[0], int(binary.BigEndian.Uint32(hdr[1:hdrSize])), nil
}

// writeErrFrame sends err, as it crosses (kind, sentinels), on w.
func writeErrFrame(w io.Writer, err error, sentinels []error) error {
	b, _ := json.Marshal(rpcx.EncodeErrorIn(err, sentinels))
	if len(b) > maxFrame {
		b, _ = json.Marshal(&rpcx.Error{Msg: err.Error()[:maxFrame/2]})
	}
	frame := make([]byte, hdrSize+len(b))
	putHeader(frame, frameErr, len(b))
	copy(frame[hdrSize:], b)
	_, werr := w.Write(frame)
	return werr
}

// readErrFrame reads the body of an error frame of n bytes.
func readErrFrame(r io.Reader, n int, sentinels []error) error {
	if n > maxFrame {
		return fmt.Errorf("stream error frame of %d bytes (at most %d)", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	var e rpcx.Error
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("bad stream error frame: %v", err)
	}
	return e.ErrIn(sentinels)
}

// stream returns the connection of a stream argument opened as conn on
// the broker: its bytes go on a TCP connection of its own when the two
// sides settle on one (package sidestream).
func (p *peer) stream(conn net.Conn) net.Conn {
	return sidestream.New(conn, p.side, p.plugin)
}

// past is a deadline that has passed: it wakes a blocked Read or Write.
var past = time.Unix(1, 0)

// outStream is the caller's side of one stream argument: a goroutine
// that sends what r yields, or writes into w what the method writes.
type outStream struct {
	id        uint32
	r         io.Reader
	w         io.Writer
	sentinels []error
	done      chan struct{}

	mu       sync.Mutex
	conn     net.Conn
	stopped  bool
	localErr error // r's or w's own failure
}

func (s *outStream) start(p *peer) {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		bconn, err := p.broker.Dial(s.id)
		if err != nil {
			return // the call failed; its error says why
		}
		conn := p.stream(bconn)
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.conn = conn
		s.mu.Unlock()
		if s.r != nil {
			s.send(conn)
		} else {
			s.receive(conn)
		}
	}()
}

// stop ends the copy at once (the call returned, or its ctx ended): a
// Read of r under way is left to finish, and what it yields is dropped.
func (s *outStream) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.conn != nil {
		_ = s.conn.SetDeadline(past)
		_ = s.conn.Close()
	}
}

func (s *outStream) fail(err error) {
	s.mu.Lock()
	if !s.stopped {
		s.localErr = err
	}
	s.mu.Unlock()
}

func (s *outStream) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.localErr
}

// send copies r to the method. A frame, header included, is chunkSize
// bytes at most: a whole number of them fills yamux's 256 KiB window,
// where larger frames leave the tail of every fourth one waiting for the
// next window update.
func (s *outStream) send(conn net.Conn) {
	buf := make([]byte, chunkSize)
	for {
		n, rerr := s.r.Read(buf[hdrSize:])
		if n > 0 {
			putHeader(buf, frameData, n)
			if _, err := conn.Write(buf[:hdrSize+n]); err != nil {
				return // the method returned, or the call ended
			}
		}
		switch {
		case rerr == io.EOF:
			putHeader(buf, frameEnd, 0)
			_, _ = conn.Write(buf[:hdrSize])
			_ = conn.Close()
			return
		case rerr != nil:
			s.fail(rerr)
			_ = writeErrFrame(conn, rerr, s.sentinels)
			_ = conn.Close()
			return
		}
	}
}

// receive writes into w what the method writes, until the end frame.
func (s *outStream) receive(conn net.Conn) {
	buf := make([]byte, chunkSize)
	hdr := make([]byte, hdrSize)
	for {
		typ, n, err := readHeader(conn, hdr)
		if err != nil || typ != frameData {
			return // the end frame, or the call ended: its error says why
		}
		for n > 0 {
			k, err := io.ReadFull(conn, buf[:min(n, len(buf))])
			n -= k
			if _, werr := writeAll(s.w, buf[:k]); werr != nil {
				s.fail(werr)
				// Tell the method; its Write returns werr from now on.
				_ = writeErrFrame(conn, werr, s.sentinels)
				return
			}
			if err != nil {
				return
			}
		}
	}
}

func writeAll(w io.Writer, b []byte) (int, error) {
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return n, err
}

// inStream is the method's side of one stream argument: the io.Reader or
// io.Writer it gets. Its context's end, or the method's return, closes it.
type inStream struct {
	m         *method
	conn      net.Conn
	ctx       context.Context
	sentinels []error
	stopCtx   func() bool

	mu     sync.Mutex
	err    error // sticky: what every later Read or Write returns
	ended  bool  // the method returned
	remote error // the caller's w failed (writer streams)
	back   chan struct{}

	// reader
	left int
	hdr  [hdrSize]byte
	// writer
	buf  []byte
	whdr [hdrSize]byte // writeVectored's header
}

func newInStream(ctx context.Context, m *method, conn net.Conn, sentinels []error, writer bool) *inStream {
	s := &inStream{m: m, conn: conn, ctx: ctx, sentinels: sentinels}
	s.stopCtx = context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(past)
		_ = conn.Close()
	})
	if writer {
		s.back = make(chan struct{})
		go s.readBack()
	}
	return s
}

// readBack waits for the caller's word that its w failed.
func (s *inStream) readBack() {
	defer close(s.back)
	var hdr [hdrSize]byte
	typ, n, err := readHeader(s.conn, hdr[:])
	if err != nil || typ != frameErr {
		return
	}
	rerr := readErrFrame(s.conn, n, s.sentinels)
	s.mu.Lock()
	s.remote = rerr
	s.mu.Unlock()
	_ = s.conn.SetWriteDeadline(past)
	_ = s.conn.Close()
}

// cancelWait bounds how long a stream cut short waits for the cancel of
// its call: a caller whose context ended stops its copy at once, and the
// cancel, sent at the same moment on another stream, may come second.
const cancelWait = 2 * time.Second

// failure returns the error for a failed read or write of the stream.
func (s *inStream) failure(err error, what string) error {
	s.mu.Lock()
	cut := s.err == nil && !s.ended && s.remote == nil
	s.mu.Unlock()
	if cut {
		t := time.NewTimer(cancelWait)
		select {
		case <-s.ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err
	case s.ended:
		s.err = fmt.Errorf("%s: %s a stream after the method returned", s.m.full, what)
	case s.remote != nil:
		s.err = s.remote
	case s.ctx.Err() != nil:
		s.err = s.ctx.Err()
	default:
		s.err = fmt.Errorf("%s: the caller's stream ended before its end: %w", s.m.full, err)
	}
	return s.err
}

// Read reads what the caller's io.Reader yields.
func (s *inStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for s.left == 0 {
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return 0, err
		}
		typ, n, err := readHeader(s.conn, s.hdr[:])
		if err != nil {
			return 0, s.failure(err, "reading")
		}
		switch typ {
		case frameData:
			s.left = n
		case frameEnd:
			s.setErr(io.EOF)
			return 0, io.EOF
		case frameErr:
			rerr := readErrFrame(s.conn, n, s.sentinels)
			s.setErr(rerr)
			return 0, rerr
		default:
			return 0, s.failure(fmt.Errorf("frame of unknown type %q", typ), "reading")
		}
	}
	n, err := s.conn.Read(p[:min(len(p), s.left)])
	s.left -= n
	if err != nil && n == 0 {
		return 0, s.failure(err, "reading")
	}
	return n, nil
}

func (s *inStream) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Write sends p to the caller's io.Writer.
func (s *inStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if sc, ok := s.conn.(*sidestream.Conn); ok && sc.Vectored() {
		return s.writeVectored(sc, p)
	}
	if s.buf == nil {
		s.buf = make([]byte, hdrSize+chunkSize)
	}
	done := 0
	for done < len(p) {
		n := copy(s.buf[hdrSize:], p[done:])
		putHeader(s.buf, frameData, n)
		if _, err := s.conn.Write(s.buf[:hdrSize+n]); err != nil {
			if s.back != nil {
				<-s.back // the caller's error, when that is why
			}
			return done, s.failure(err, "writing")
		}
		done += n
	}
	return done, nil
}

// writeVectored is Write on a side connection: each frame's header and
// its part of p go in one writev, without copying p (on yamux, two writes
// would make two yamux frames, so Write copies there).
func (s *inStream) writeVectored(sc *sidestream.Conn, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n := min(len(p)-done, chunkSize)
		putHeader(s.whdr[:], frameData, n)
		bufs := net.Buffers{s.whdr[:], p[done : done+n]}
		if _, err := sc.WriteBuffers(&bufs); err != nil {
			if s.back != nil {
				<-s.back // the caller's error, when that is why
			}
			return done, s.failure(err, "writing")
		}
		done += n
	}
	return done, nil
}

// end closes the stream when the method returns; a writer's end frame
// tells the caller that everything written has arrived.
func (s *inStream) end() {
	s.mu.Lock()
	failed := s.err != nil
	s.ended = true
	s.mu.Unlock()
	if s.back != nil && !failed {
		// The call's end (Cancel, hang-up) still cuts this write: it
		// waits for a side connection still settling (or yamux's
		// window), and the call is not over until it is done.
		var hdr [hdrSize]byte
		putHeader(hdr[:], frameEnd, 0)
		_, _ = s.conn.Write(hdr[:])
	}
	s.stopCtx()
	_ = s.conn.Close()
	_ = s.conn.SetReadDeadline(past)
	if s.back != nil {
		<-s.back
	}
}
