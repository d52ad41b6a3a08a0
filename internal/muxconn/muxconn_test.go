package muxconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plugwire/plugwire/internal/frame"
	"github.com/plugwire/plugwire/internal/testutil"
)

func join(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func fill(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// recConn is a net.Conn that records every Write. Write fails with failErr
// if it is set; Read signals inRead, blocks until Close and then fails.
type recConn struct {
	failErr error
	inRead  chan struct{}

	mu       sync.Mutex
	writes   [][]byte
	attempts int
	closes   int
	closedCh chan struct{}
}

func newRecConn() *recConn {
	return &recConn{closedCh: make(chan struct{}), inRead: make(chan struct{}, 1)}
}

func (r *recConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.failErr != nil {
		return 0, r.failErr
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recConn) Read(p []byte) (int, error) {
	select {
	case r.inRead <- struct{}{}:
	default:
	}
	<-r.closedCh
	return 0, errors.New("read on closed recConn")
}

func (r *recConn) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closes++
	if r.closes == 1 {
		close(r.closedCh)
	}
	return nil
}

func (r *recConn) recorded() (writes [][]byte, attempts, closes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes, r.attempts, r.closes
}

func (r *recConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (r *recConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (r *recConn) SetDeadline(time.Time) error      { return nil }
func (r *recConn) SetReadDeadline(time.Time) error  { return nil }
func (r *recConn) SetWriteDeadline(time.Time) error { return nil }

func TestWritePath(t *testing.T) {
	body5 := fill(5, 1)
	big := fill(copyMax, 2) // header+body exceeds copyMax
	tests := []struct {
		name   string
		writes [][]byte
		want   [][]byte // underlying writes
	}{
		{"data header and body coalesced",
			[][]byte{frame.Header(0, frame.FlagSYN, 1, 5), body5},
			[][]byte{join(frame.Header(0, frame.FlagSYN, 1, 5), body5)}},
		{"large data frame coalesced",
			[][]byte{frame.Header(0, 0, 1, uint32(len(big))), big},
			[][]byte{join(frame.Header(0, 0, 1, uint32(len(big))), big)}},
		{"window update at once",
			[][]byte{frame.Header(frame.TypeWindowUpdate, frame.FlagSYN, 3, 262144)},
			[][]byte{frame.Header(frame.TypeWindowUpdate, frame.FlagSYN, 3, 262144)}},
		{"ping at once",
			[][]byte{frame.Header(frame.TypePing, frame.FlagSYN, 0, 42)},
			[][]byte{frame.Header(frame.TypePing, frame.FlagSYN, 0, 42)}},
		{"go-away at once",
			[][]byte{frame.Header(frame.TypeGoAway, 0, 0, 0)},
			[][]byte{frame.Header(frame.TypeGoAway, 0, 0, 0)}},
		{"data header with length 0 at once",
			[][]byte{frame.Header(0, frame.FlagFIN, 3, 0)},
			[][]byte{frame.Header(0, frame.FlagFIN, 3, 0)}},
		{"12-byte payload passes through",
			[][]byte{[]byte("hello world!")},
			[][]byte{[]byte("hello world!")}},
		{"12 bytes with wrong version passes through",
			[][]byte{append([]byte{1}, frame.Header(0, 0, 1, 5)[1:]...)},
			[][]byte{append([]byte{1}, frame.Header(0, 0, 1, 5)[1:]...)}},
		{"11 and 13 bytes pass through",
			[][]byte{frame.Header(0, 0, 1, 5)[:11], append(frame.Header(0, 0, 1, 5), 9)},
			[][]byte{frame.Header(0, 0, 1, 5)[:11], append(frame.Header(0, 0, 1, 5), 9)}},
		{"12-byte body that looks like a data header is not held",
			[][]byte{frame.Header(0, 0, 1, 12), frame.Header(0, 0, 7, 99), frame.Header(frame.TypeWindowUpdate, 0, 1, 12)},
			[][]byte{join(frame.Header(0, 0, 1, 12), frame.Header(0, 0, 7, 99)), frame.Header(frame.TypeWindowUpdate, 0, 1, 12)}},
		{"mixed sequence",
			[][]byte{frame.Header(0, 0, 1, 3), []byte("abc"), frame.Header(frame.TypePing, 0, 0, 1), frame.Header(0, 0, 3, 1), []byte("x")},
			[][]byte{join(frame.Header(0, 0, 1, 3), []byte("abc")), frame.Header(frame.TypePing, 0, 0, 1), join(frame.Header(0, 0, 3, 1), []byte("x"))}},
		{"held header flushed before a non-body write",
			[][]byte{frame.Header(0, 0, 1, 5), frame.Header(frame.TypeWindowUpdate, 0, 1, 10)},
			[][]byte{join(frame.Header(0, 0, 1, 5), frame.Header(frame.TypeWindowUpdate, 0, 1, 10))}},
		{"empty write keeps the header held",
			[][]byte{frame.Header(0, 0, 1, 2), {}, []byte("ab")},
			[][]byte{join(frame.Header(0, 0, 1, 2), []byte("ab"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRecConn()
			c := Wrap(rc)
			for i, w := range tt.writes {
				n, err := c.Write(w)
				if n != len(w) || err != nil {
					t.Fatalf("write %d: got (%d, %v), want (%d, nil)", i, n, err, len(w))
				}
			}
			got, _, _ := rc.recorded()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d underlying writes %x, want %d %x", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("underlying write %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
			if c.Err() != nil {
				t.Errorf("Err() = %v, want nil", c.Err())
			}
		})
	}
}

func TestHeldHeaderIsCopied(t *testing.T) {
	rc := newRecConn()
	c := Wrap(rc)
	h := frame.Header(0, 0, 1, 1)
	c.Write(h)
	clear(h) // yamux reuses its header buffers; so may any caller
	c.Write([]byte("z"))
	got, _, _ := rc.recorded()
	if want := join(frame.Header(0, 0, 1, 1), []byte("z")); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("underlying writes %x, want [%x]", got, want)
	}
}

func TestClose(t *testing.T) {
	rc := newRecConn()
	c := Wrap(rc)
	c.Write(frame.Header(0, 0, 1, 3)) // held, then discarded by Close
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n, err := c.Write([]byte("abc")); n != 3 || err != nil {
		t.Errorf("Write after Close = (%d, %v), want (3, nil)", n, err)
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read after Close = (%d, %v), want (0, EOF)", n, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	writes, attempts, closes := rc.recorded()
	if attempts != 0 || len(writes) != 0 || closes != 1 {
		t.Errorf("underlying: %d writes, %d attempts, %d closes; want 0, 0, 1", len(writes), attempts, closes)
	}
	if c.Err() != nil {
		t.Errorf("Err() = %v, want nil after our own Close", c.Err())
	}
}

func TestWriteFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes [][]byte
	}{
		{"plain write", [][]byte{frame.Header(frame.TypeWindowUpdate, 0, 1, 9)}},
		{"coalesced write", [][]byte{frame.Header(0, 0, 1, 3), []byte("abc")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boom := errors.New("boom")
			rc := newRecConn()
			rc.failErr = boom
			c := Wrap(rc)
			for _, w := range tc.writes {
				if n, err := c.Write(w); n != len(w) || err != nil {
					t.Fatalf("Write = (%d, %v), want (%d, nil)", n, err, len(w))
				}
			}
			if err := c.Err(); !errors.Is(err, boom) {
				t.Fatalf("Err() = %v, want it to wrap %v", err, boom)
			}
			if _, _, closes := rc.recorded(); closes != 1 {
				t.Fatalf("underlying conn closed %d times after a failed write, want 1", closes)
			}
			// The read side must end with a plain EOF.
			if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Errorf("Read after failed write = (%d, %v), want (0, EOF)", n, err)
			}
			c.Write([]byte("more"))
			if _, attempts, _ := rc.recorded(); attempts != 1 {
				t.Errorf("%d underlying write attempts, want 1", attempts)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close after failure: %v", err)
			}
		})
	}
}

// TestReadBlockedThenFailedWrite checks that a Read already blocked in the
// underlying conn returns io.EOF, not the conn's error, when a failed write
// closes the conn.
func TestReadBlockedThenFailedWrite(t *testing.T) {
	defer goleak.VerifyNone(t)
	rc := newRecConn()
	rc.failErr = errors.New("boom")
	c := Wrap(rc)
	readErr := make(chan error)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	<-rc.inRead
	if n, err := c.Write([]byte("x")); n != 1 || err != nil {
		t.Errorf("Write = (%d, %v), want (1, nil)", n, err)
	}
	if _, _, closes := rc.recorded(); closes != 1 {
		rc.Close() // unblock the reader
		<-readErr
		t.Fatalf("underlying conn closed %d times after a failed write, want 1", closes)
	}
	if err := <-readErr; err != io.EOF {
		t.Errorf("Read = %v, want EOF", err)
	}
	if c.Err() == nil {
		t.Error("Err() = nil, want the write error")
	}
}

// TestCloseConcurrent closes while Reads and Writes are blocked or running.
func TestCloseConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := net.Pipe() // nobody serves b: Read and Write on a block
	defer b.Close()
	c := Wrap(a)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if n, err := c.Read(make([]byte, 4)); n != 0 || err != io.EOF {
				t.Errorf("Read = (%d, %v), want (0, EOF)", n, err)
			}
		})
		wg.Go(func() {
			for _, p := range [][]byte{frame.Header(0, 0, 1, 4), []byte("abcd"), []byte("x")} {
				if n, err := c.Write(p); n != len(p) || err != nil {
					t.Errorf("Write = (%d, %v), want (%d, nil)", n, err, len(p))
				}
			}
		})
		wg.Go(func() {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	if c.Err() != nil {
		t.Errorf("Err() = %v, want nil: only our own Close happened", c.Err())
	}
}

// TestLargeFrameOverTCP sends a frame above copyMax through the writev path.
func TestLargeFrameOverTCP(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, q := net.Pipe()
	defer q.Close()
	defer p.Close()
	if Wrap(p).writev {
		t.Error("net.Pipe conn uses writev; want the copying path")
	}
	cc, sc := testutil.TCPPair(t)
	defer sc.Close()
	c := Wrap(cc)
	defer c.Close()
	if !c.writev {
		t.Fatal("TCP conn does not use writev")
	}
	body := fill(3*copyMax, 9)
	h := frame.Header(0, 0, 1, uint32(len(body)))
	got := make(chan []byte)
	go func() {
		b := make([]byte, frame.HeaderSize+len(body))
		io.ReadFull(sc, b)
		got <- b
	}()
	for _, w := range [][]byte{h, body} {
		if n, err := c.Write(w); n != len(w) || err != nil {
			t.Fatalf("Write = (%d, %v), want (%d, nil)", n, err, len(w))
		}
	}
	if b := <-got; !bytes.Equal(b, join(h, body)) {
		t.Error("peer received different bytes")
	}
	if c.Err() != nil {
		t.Errorf("Err() = %v", c.Err())
	}
}

// CloseWrite returns at once while a Write is stuck on a peer that reads
// nothing, and closes the write side when that Write returns: a peer that
// reads at last gets the whole frame, then the end. Close instead ends the
// stuck Write at once, and neither counts as a failed write.
func TestCloseWriteDuringStuckWrite(t *testing.T) {
	for _, then := range []string{"peer reads", "Close"} {
		t.Run(then, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			cc, sc := testutil.TCPPair(t)
			defer sc.Close()
			c := Wrap(cc)
			defer c.Close()
			body := bytes.Repeat([]byte{7}, 16<<20) // more than both socket buffers hold
			h := frame.Header(0, 0, 1, uint32(len(body)))
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				c.Write(h)
				c.Write(body)
			}()
			for c.wmu.TryLock() { // until the Write holds it
				c.wmu.Unlock()
				time.Sleep(time.Millisecond)
			}
			returned := make(chan error, 1)
			go func() { returned <- c.CloseWrite() }()
			select {
			case err := <-returned:
				if err != nil {
					t.Fatalf("CloseWrite: %v", err)
				}
			case <-wrote:
				t.Fatal("the Write returned while the peer read nothing")
			}
			select {
			case <-wrote:
				t.Fatal("the Write returned at CloseWrite")
			default:
			}
			switch then {
			case "peer reads":
				got, err := io.ReadAll(sc)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, join(h, body)) {
					t.Fatalf("peer read %d bytes, want the frame's %d and then the end", len(got), frame.HeaderSize+len(body))
				}
				<-wrote
				if n, _ := c.Write(frame.Header(frame.TypePing, 0, 0, 1)); n != frame.HeaderSize {
					t.Fatalf("Write after CloseWrite = %d", n)
				}
			case "Close":
				c.Close()
				<-wrote
			}
			if err := c.Err(); err != nil {
				t.Errorf("Err() = %v, want nil: nothing failed", err)
			}
		})
	}
}
