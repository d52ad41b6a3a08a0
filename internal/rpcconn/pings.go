package rpcconn

import (
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"

	"github.com/plugwire/plugwire/internal/frame"
)

// maxChunk bounds what the reader hands over at once, so that a frame
// header announcing gigabytes cannot make it allocate them.
const maxChunk = 64 << 10

// localPings sits between the host's yamux session and the connection to
// a plugin in debug mode, and answers yamux's keepalive pings itself.
// yamux pings every 30 s and ends the session when an answer takes more
// than 10 s; neither is configurable through go-plugin, which makes the
// session with a nil yamux config. A plugin stopped at a breakpoint cannot
// answer, and would lose its host after 40 s. The keepalive buys nothing
// on this connection: it is loopback TCP, which the kernel closes when
// the plugin process dies, stopped or not, and muxconn turns that end into
// the session's end.
//
// Writes are yamux's own: a header, then the body of a data frame in a
// separate Write. A ping request is not sent; its answer joins what Read
// returns, between two frames from the plugin. A reader goroutine cuts
// what the plugin sends into frames for that; it ends when the
// connection does.
type localPings struct {
	c io.ReadWriteCloser

	// write side, serialised by yamux's one send loop; wmu for safety.
	wmu      sync.Mutex
	bodyLeft uint64 // bytes of a data frame's body still to be written

	items  chan chunk // from the reader goroutine; closed at its end
	err    error      // the reader's error, set before items is closed
	closed chan struct{}
	once   sync.Once

	amu      sync.Mutex
	acks     [][]byte      // ping answers to return
	ackReady chan struct{} // signalled when acks grows

	// read side, serialised by yamux's one receive loop.
	rmu     sync.Mutex
	cur     []byte
	inFrame bool // cur, or the next chunk, continues a frame

	answered atomic.Int64 // pings answered, for tests
}

// chunk is part of what the plugin sent; end marks the end of a frame.
type chunk struct {
	b   []byte
	end bool
}

func newLocalPings(c io.ReadWriteCloser) *localPings {
	l := &localPings{c: c, items: make(chan chunk, 64), ackReady: make(chan struct{}, 1), closed: make(chan struct{})}
	go l.readFrames()
	return l
}

// put hands c to Read, and reports false once the connection is closed.
func (l *localPings) put(c chunk) bool {
	select {
	case l.items <- c:
		return true
	case <-l.closed:
		return false
	}
}

// readFrames reads what the plugin sends, frame by frame.
func (l *localPings) readFrames() {
	defer close(l.items)
	hdr := make([]byte, frame.HeaderSize)
	for {
		n, err := io.ReadFull(l.c, hdr)
		if err != nil {
			if n > 0 && !l.put(chunk{b: append([]byte(nil), hdr[:n]...)}) {
				return
			}
			l.err = eof(err)
			return
		}
		body := uint64(0)
		if hdr[1] == frame.TypeData {
			body = uint64(binary.BigEndian.Uint32(hdr[8:12]))
		}
		if !l.put(chunk{b: append([]byte(nil), hdr...), end: body == 0}) {
			return
		}
		for body > 0 {
			b := make([]byte, min(body, maxChunk))
			n, err := io.ReadFull(l.c, b)
			body -= uint64(n)
			if n > 0 && !l.put(chunk{b: b[:n], end: body == 0}) {
				return
			}
			if err != nil {
				l.err = eof(err)
				return
			}
		}
	}
}

// eof turns the end of the connection, cut short or not, into io.EOF,
// as muxconn reports it to yamux.
func eof(err error) error {
	if err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

// Read returns what the plugin sent, with the answers to the host's pings
// between its frames.
func (l *localPings) Read(p []byte) (int, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if len(l.cur) == 0 {
		if !l.inFrame {
			if ack := l.popAck(); ack != nil {
				l.cur = ack
			}
		}
		for len(l.cur) == 0 {
			var ch <-chan struct{}
			if !l.inFrame {
				ch = l.ackReady
			}
			select {
			case c, ok := <-l.items:
				if !ok {
					if l.err == nil {
						return 0, io.EOF // closed
					}
					return 0, l.err
				}
				l.cur, l.inFrame = c.b, !c.end
			case <-ch:
				l.cur = l.popAck()
			}
		}
	}
	n := copy(p, l.cur)
	l.cur = l.cur[n:]
	return n, nil
}

func (l *localPings) popAck() []byte {
	l.amu.Lock()
	defer l.amu.Unlock()
	if len(l.acks) == 0 {
		return nil
	}
	a := l.acks[0]
	l.acks = l.acks[1:]
	return a
}

// Write sends p to the plugin, except ping requests, which it answers.
func (l *localPings) Write(p []byte) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.bodyLeft > 0 {
		l.bodyLeft -= min(l.bodyLeft, uint64(len(p)))
		return l.c.Write(p)
	}
	if len(p) == frame.HeaderSize && p[1] == frame.TypePing && binary.BigEndian.Uint16(p[2:4])&frame.FlagSYN != 0 {
		ack := make([]byte, frame.HeaderSize)
		ack[0], ack[1] = p[0], frame.TypePing
		binary.BigEndian.PutUint16(ack[2:4], frame.FlagACK)
		copy(ack[8:12], p[8:12]) // the ping's id
		l.amu.Lock()
		l.acks = append(l.acks, ack)
		l.amu.Unlock()
		l.answered.Add(1)
		select {
		case l.ackReady <- struct{}{}:
		default:
		}
		return len(p), nil
	}
	if len(p) >= frame.HeaderSize && p[1] == frame.TypeData {
		// A header, maybe written with (part of) its body.
		length := uint64(binary.BigEndian.Uint32(p[8:12]))
		l.bodyLeft = length - min(length, uint64(len(p)-frame.HeaderSize))
	}
	return l.c.Write(p)
}

// Close closes the connection; the reader goroutine then ends.
func (l *localPings) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.c.Close()
}
