package muxconn

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/plugwire/plugwire/internal/frame"
)

// inConn is a recConn whose Read returns what in holds, then io.EOF.
type inConn struct {
	*recConn
	in io.Reader
}

func (c *inConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// finIDs parses forged bytes as FIN window updates and returns their ids.
func finIDs(t *testing.T, forged []byte) []uint32 {
	t.Helper()
	var ids []uint32
	for len(forged) > 0 {
		if len(forged) < frame.HeaderSize {
			t.Fatalf("forged bytes end in a partial header: % x", forged)
		}
		h := forged[:frame.HeaderSize]
		want := frame.Header(frame.TypeWindowUpdate, frame.FlagFIN, binary.BigEndian.Uint32(h[4:8]), 0)
		if !bytes.Equal(h, want) {
			t.Fatalf("forged frame % x is not a FIN window update", h)
		}
		ids = append(ids, binary.BigEndian.Uint32(h[4:8]))
		forged = forged[frame.HeaderSize:]
	}
	return ids
}

// When the connection ends, Read hands yamux a FIN for every stream opened
// (either way) and neither closed by the peer nor reset, then io.EOF; nothing
// is forged where the connection ended inside a frame or is not yamux.
func TestFinsAtEnd(t *testing.T) {
	data := func(flags uint16, id uint32, body []byte) []byte {
		return join(frame.Header(frame.TypeData, flags, id, uint32(len(body))), body)
	}
	wu := func(flags uint16, id uint32) []byte { return frame.Header(frame.TypeWindowUpdate, flags, id, 0) }
	for _, tc := range []struct {
		name     string
		sent     [][]byte // Writes made on the Conn, as yamux makes them
		received []byte   // what the peer sent
		want     []uint32 // streams ended at the end
	}{
		{name: "no streams"},
		{
			name:     "opened either way",
			sent:     [][]byte{wu(frame.FlagSYN, 1), wu(frame.FlagSYN, 3)},
			received: join(wu(frame.FlagACK, 1), wu(frame.FlagSYN, 2)),
			want:     []uint32{1, 2, 3},
		},
		{
			// Only streams the peer has not closed need a FIN: a reader
			// of a stream the peer closed gets io.EOF already.
			name:     "closed by the peer needs no FIN",
			sent:     [][]byte{wu(frame.FlagSYN, 1), wu(frame.FlagSYN, 3), wu(frame.FlagFIN, 1), wu(frame.FlagFIN, 3)},
			received: join(wu(frame.FlagSYN, 2), wu(frame.FlagFIN, 1), wu(frame.FlagFIN, 2), wu(frame.FlagSYN, 4)),
			want:     []uint32{3, 4},
		},
		{
			name:     "reset either way is gone",
			sent:     [][]byte{wu(frame.FlagSYN, 1), wu(frame.FlagRST, 1)},
			received: join(wu(frame.FlagSYN, 2), wu(frame.FlagRST, 2), wu(frame.FlagSYN, 4)),
			want:     []uint32{4},
		},
		{
			name: "data frame flags count and bodies are skipped",
			sent: [][]byte{frame.Header(frame.TypeData, frame.FlagSYN, 5, 12), wu(frame.FlagSYN, 9)},
			// The body of the received frame looks like a FIN of stream 9.
			received: join(data(frame.FlagACK, 5, wu(frame.FlagFIN, 9)), data(frame.FlagSYN, 6, []byte("abc"))),
			want:     []uint32{5, 6, 9},
		},
		{
			name:     "pings and go-aways have no stream",
			sent:     [][]byte{frame.Header(frame.TypePing, frame.FlagSYN, 0, 7)},
			received: join(frame.Header(frame.TypePing, frame.FlagSYN, 0, 8), frame.Header(frame.TypeGoAway, 0, 0, 0)),
		},
		{
			name:     "ended inside a data frame",
			sent:     [][]byte{wu(frame.FlagSYN, 1)},
			received: frame.Header(frame.TypeData, 0, 1, 10),
		},
		{
			name:     "ended inside a data frame's body",
			sent:     [][]byte{wu(frame.FlagSYN, 1)},
			received: data(0, 1, []byte("0123456789"))[:16],
		},
		{
			name:     "ended inside a header",
			sent:     [][]byte{wu(frame.FlagSYN, 1)},
			received: wu(frame.FlagACK, 1)[:5],
		},
		{
			name:     "not yamux",
			sent:     [][]byte{wu(frame.FlagSYN, 1)},
			received: []byte("GET / HTTP/1.1\r\n\r\n"),
		},
	} {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			if oneByte {
				name += "/one byte per read"
			}
			t.Run(name, func(t *testing.T) {
				var in io.Reader = bytes.NewReader(tc.received)
				if oneByte {
					in = iotest.OneByteReader(in)
				}
				c := Wrap(&inConn{recConn: newRecConn(), in: in})
				for _, w := range tc.sent {
					c.Write(w)
					if isDataHeader(w) {
						c.Write(make([]byte, binary.BigEndian.Uint32(w[8:12])))
					}
				}
				select {
				case <-c.Ended():
					t.Fatal("Ended is closed before Read returned io.EOF")
				default:
				}
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("ReadAll: %v", err)
				}
				if !bytes.HasPrefix(got, tc.received) {
					t.Fatalf("Read returned % x, want the received bytes % x first", got, tc.received)
				}
				select {
				case <-c.Ended():
				default:
					t.Error("Ended is not closed after Read returned io.EOF")
				}
				ids := finIDs(t, got[len(tc.received):])
				if !slices.Equal(ids, tc.want) {
					t.Errorf("streams ended at the end: %v, want %v", ids, tc.want)
				}
				if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
					t.Errorf("Read after the end: %d, %v; want 0, io.EOF", n, err)
				}
			})
		}
	}
}
