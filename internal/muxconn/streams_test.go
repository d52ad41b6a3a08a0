package muxconn

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

const flagACK = 2

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
		if len(forged) < headerSize {
			t.Fatalf("forged bytes end in a partial header: % x", forged)
		}
		h := forged[:headerSize]
		want := hdr(typeWindowUpdate, flagFIN, binary.BigEndian.Uint32(h[4:8]), 0)
		if !bytes.Equal(h, want) {
			t.Fatalf("forged frame % x is not a FIN window update", h)
		}
		ids = append(ids, binary.BigEndian.Uint32(h[4:8]))
		forged = forged[headerSize:]
	}
	return ids
}

// When the connection ends, Read hands yamux a FIN for every stream opened
// (either way) and neither closed by the peer nor reset, then io.EOF; nothing
// is forged where the connection ended inside a frame or is not yamux.
func TestFinsAtEnd(t *testing.T) {
	data := func(flags uint16, id uint32, body []byte) []byte {
		return join(hdr(typeData, flags, id, uint32(len(body))), body)
	}
	wu := func(flags uint16, id uint32) []byte { return hdr(typeWindowUpdate, flags, id, 0) }
	for _, tc := range []struct {
		name     string
		sent     [][]byte // Writes made on the Conn, as yamux makes them
		received []byte   // what the peer sent
		want     []uint32 // streams ended at the end
	}{
		{name: "no streams"},
		{
			name:     "opened either way",
			sent:     [][]byte{wu(flagSYN, 1), wu(flagSYN, 3)},
			received: join(wu(flagACK, 1), wu(flagSYN, 2)),
			want:     []uint32{1, 2, 3},
		},
		{
			// Only streams the peer has not closed need a FIN: a reader
			// of a stream the peer closed gets io.EOF already.
			name:     "closed by the peer needs no FIN",
			sent:     [][]byte{wu(flagSYN, 1), wu(flagSYN, 3), wu(flagFIN, 1), wu(flagFIN, 3)},
			received: join(wu(flagSYN, 2), wu(flagFIN, 1), wu(flagFIN, 2), wu(flagSYN, 4)),
			want:     []uint32{3, 4},
		},
		{
			name:     "reset either way is gone",
			sent:     [][]byte{wu(flagSYN, 1), wu(flagRST, 1)},
			received: join(wu(flagSYN, 2), wu(flagRST, 2), wu(flagSYN, 4)),
			want:     []uint32{4},
		},
		{
			name: "data frame flags count and bodies are skipped",
			sent: [][]byte{hdr(typeData, flagSYN, 5, 12), wu(flagSYN, 9)},
			// The body of the received frame looks like a FIN of stream 9.
			received: join(data(flagACK, 5, wu(flagFIN, 9)), data(flagSYN, 6, []byte("abc"))),
			want:     []uint32{5, 6, 9},
		},
		{
			name:     "pings and go-aways have no stream",
			sent:     [][]byte{hdr(typePing, flagSYN, 0, 7)},
			received: join(hdr(typePing, flagSYN, 0, 8), hdr(typeGoAway, 0, 0, 0)),
		},
		{
			name:     "ended inside a data frame",
			sent:     [][]byte{wu(flagSYN, 1)},
			received: hdr(typeData, 0, 1, 10),
		},
		{
			name:     "ended inside a data frame's body",
			sent:     [][]byte{wu(flagSYN, 1)},
			received: data(0, 1, []byte("0123456789"))[:16],
		},
		{
			name:     "ended inside a header",
			sent:     [][]byte{wu(flagSYN, 1)},
			received: wu(flagACK, 1)[:5],
		},
		{
			name:     "not yamux",
			sent:     [][]byte{wu(flagSYN, 1)},
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
