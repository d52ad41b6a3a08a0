package muxconn

import (
	"encoding/binary"
	"slices"
	"sync"

	"github.com/plugwire/plugwire/internal/frame"
)

// FIN bits of a stream in streams.open.
const (
	finSent = 1 << iota
	finRecv
)

// streams follows the frames that cross the connection, both ways, to know
// which yamux streams are open. It lets Read end them when the connection
// ends: yamux v0.1.2 does not wake a stream's reader when its session shuts
// down (Stream.Read spins on the closed shutdown channel until
// Session.Close reaches that stream), so with hundreds of streams waiting
// for data a session takes seconds, even tens of seconds of CPU, to close.
// A stream its peer closed wakes its reader at once, which reads what is
// buffered and then io.EOF, so Read hands yamux a FIN frame for every open
// stream before it reports the end of the connection. (An RST would wake
// the reader too, but yamux returns ErrConnectionReset from a reset stream
// before reading its buffer: a reply that had arrived would be lost.)
type streams struct {
	mu   sync.Mutex
	open map[uint32]uint8 // stream id → FIN bits seen

	// endFlag is the flag of the frames fins forges; zero means frame.FlagFIN.
	// Only tests set it (frame.FlagRST, for a control).
	endFlag uint16

	// The frame parser of the read side; it only runs in Read.
	hdr    [frame.HeaderSize]byte
	n      int    // bytes of hdr received so far
	skip   uint32 // body bytes of the current data frame still to come
	broken bool   // not yamux framing: never forge frames into it
}

// frame records a frame header sent (way finSent) or received (finRecv).
func (s *streams) frame(hdr []byte, way uint8) {
	flags := binary.BigEndian.Uint16(hdr[2:4])
	if hdr[1] > frame.TypeWindowUpdate || flags&(frame.FlagSYN|frame.FlagFIN|frame.FlagRST) == 0 {
		return // pings and go-aways have no stream; most frames change nothing
	}
	id := binary.BigEndian.Uint32(hdr[4:8])
	s.mu.Lock()
	defer s.mu.Unlock()
	if flags&frame.FlagSYN != 0 {
		if s.open == nil {
			s.open = make(map[uint32]uint8)
		}
		if _, ok := s.open[id]; !ok {
			s.open[id] = 0
		}
	}
	bits, ok := s.open[id]
	switch {
	case !ok:
	case flags&frame.FlagRST != 0:
		delete(s.open, id)
	case flags&frame.FlagFIN != 0:
		if bits |= way; bits == finSent|finRecv {
			delete(s.open, id) // yamux forgets a stream closed both ways
		} else {
			s.open[id] = bits
		}
	}
}

// received parses p, the next bytes read from the connection.
func (s *streams) received(p []byte) {
	for len(p) > 0 && !s.broken {
		if s.skip > 0 {
			k := uint32(min(len(p), int(min(s.skip, 1<<30))))
			p, s.skip = p[k:], s.skip-k
			continue
		}
		k := copy(s.hdr[s.n:], p)
		p, s.n = p[k:], s.n+k
		if s.n < frame.HeaderSize {
			return
		}
		s.n = 0
		if s.hdr[0] != frame.Version || s.hdr[1] > frame.TypeGoAway {
			s.broken = true // yamux ends the session itself
			return
		}
		s.frame(s.hdr[:], finRecv)
		if s.hdr[1] == frame.TypeData {
			s.skip = binary.BigEndian.Uint32(s.hdr[8:12])
		}
	}
}

// fins returns a FIN frame for every stream still open that the peer has
// not closed, and forgets them all; nil when the read side stopped in the
// middle of a frame, where nothing can be added. A stream the peer closed
// needs none (its reader returns io.EOF once its buffer is read), and yamux
// may drop it as soon as the local side closes it too: a frame for a
// stream yamux no longer knows makes it log a warning.
func (s *streams) fins() []byte {
	if s.broken || s.n != 0 || s.skip != 0 {
		return nil
	}
	s.mu.Lock()
	ids := make([]uint32, 0, len(s.open))
	for id, bits := range s.open {
		if bits&finRecv == 0 {
			ids = append(ids, id)
		}
	}
	s.open = nil
	s.mu.Unlock()
	slices.Sort(ids)
	flag := uint16(frame.FlagFIN)
	if s.endFlag != 0 {
		flag = s.endFlag
	}
	out := make([]byte, 0, len(ids)*frame.HeaderSize)
	for _, id := range ids {
		out = frame.AppendHeader(out, frame.TypeWindowUpdate, flag, id, 0)
	}
	return out
}
