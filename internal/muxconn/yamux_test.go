package muxconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/plugwire/plugwire/internal/frame"
	"github.com/plugwire/plugwire/internal/testutil"
	"go.uber.org/goleak"
)

// sessions starts yamux with its default config, logging to the given writers.
func sessions(tb testing.TB, client, server io.ReadWriteCloser, clientLog, serverLog io.Writer) (cs, ss *yamux.Session) {
	tb.Helper()
	config := func(w io.Writer) *yamux.Config {
		c := yamux.DefaultConfig()
		c.LogOutput = w
		return c
	}
	cs, err := yamux.Client(client, config(clientLog))
	if err != nil {
		tb.Fatalf("yamux client: %v", err)
	}
	ss, err = yamux.Server(server, config(serverLog))
	if err != nil {
		tb.Fatalf("yamux server: %v", err)
	}
	return cs, ss
}

// serve runs handle on every stream ss accepts until ss closes; the returned
// function waits for all of them.
func serve(ss *yamux.Session, handle func(*yamux.Stream)) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			st, err := ss.AcceptStream()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer st.Close()
				handle(st)
			})
		}
	})
	return wg.Wait
}

func echo(st *yamux.Stream) { io.Copy(st, st) }

// noErrors fails the test if a yamux log contains an error line.
func noErrors(t *testing.T, side, log string) {
	t.Helper()
	if strings.Contains(log, "[ERR]") {
		t.Errorf("%s yamux log has errors:\n%s", side, log)
	}
}

func TestEchoManyStreams(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := testutil.TCPPair(t)
	var clog, slog testutil.Buffer
	cs, ss := sessions(t, Wrap(cc), Wrap(sc), &clog, &slog)
	wait := serve(ss, echo)

	sizes := []int{0, 1, 11, 12, 13, 4095, 4096, 65536, 300000}
	var wg sync.WaitGroup
	for id := range 64 {
		wg.Go(func() {
			payloads := [][]byte{frame.Header(0, 0, 1, 5)} // body shaped like a data header
			for j, n := range sizes {
				payloads = append(payloads, fill(n, byte(id*len(sizes)+j)))
			}
			if err := echoStream(cs, payloads); err != nil {
				t.Errorf("stream %d: %v", id, err)
			}
		})
	}
	wg.Wait()
	cs.Close()
	wait()
	ss.Close()
	noErrors(t, "client", clog.String())
	noErrors(t, "server", slog.String())
}

// echoStream sends payloads on a new stream while reading and checking their
// echo, then half-closes and expects the echo side to close too.
func echoStream(cs *yamux.Session, payloads [][]byte) error {
	st, err := cs.OpenStream()
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	defer st.Close()
	writeErr := make(chan error, 1)
	go func() {
		for _, p := range payloads {
			if _, err := st.Write(p); err != nil {
				writeErr <- fmt.Errorf("write %d bytes: %w", len(p), err)
				return
			}
		}
		writeErr <- st.Close() // half-close: the echo handler sees EOF
	}()
	for i, p := range payloads {
		got := make([]byte, len(p))
		if _, err := io.ReadFull(st, got); err != nil {
			return fmt.Errorf("read echo of payload %d (%d bytes): %w", i, len(p), err)
		}
		if !bytes.Equal(got, p) {
			return fmt.Errorf("echo of payload %d (%d bytes) differs", i, len(p))
		}
	}
	if n, err := st.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("read after echo: (%d, %v), want (0, EOF)", n, err)
	}
	return <-writeErr
}

// countConn records every Write made on the conn it wraps. It hides the
// wrapped conn's writev support, so each Write is one write syscall.
type countConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *countConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countConn) recorded() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// writesPerDataFrame parses the written byte stream into yamux frames and
// returns, for each data frame with a body, how many writes carried it, and
// the total number of frames.
func writesPerDataFrame(t *testing.T, writes [][]byte) (perFrame []int, frames int) {
	t.Helper()
	var ends []int // end offset of each write in the stream
	stream := bytes.Join(writes, nil)
	for _, w := range writes {
		ends = append(ends, len(w))
		if i := len(ends) - 1; i > 0 {
			ends[i] += ends[i-1]
		}
	}
	writeAt := func(off int) int { // index of the write holding byte off
		for i, e := range ends {
			if off < e {
				return i
			}
		}
		t.Fatalf("offset %d beyond written data", off)
		return 0
	}
	for off := 0; off < len(stream); frames++ {
		if len(stream)-off < frame.HeaderSize {
			t.Fatalf("truncated frame header at offset %d", off)
		}
		h := stream[off : off+frame.HeaderSize]
		end := off + frame.HeaderSize
		if h[1] == frame.TypeData {
			end += int(binary.BigEndian.Uint32(h[8:12]))
		}
		if h[1] == frame.TypeData && end > off+frame.HeaderSize {
			perFrame = append(perFrame, writeAt(end-1)-writeAt(off)+1)
		}
		off = end
	}
	return perFrame, frames
}

func TestOneWritePerDataFrame(t *testing.T) {
	const rounds = 100
	for _, tc := range []struct {
		name string
		wrap bool
		want int // writes per data frame
	}{
		{"raw", false, 2},
		{"wrapped", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			cc, sc := testutil.TCPPair(t)
			counter := &countConn{Conn: cc}
			var client, server io.ReadWriteCloser = counter, sc
			if tc.wrap {
				client, server = Wrap(counter), Wrap(sc)
			}
			cs, ss := sessions(t, client, server, io.Discard, io.Discard)
			wait := serve(ss, echo)
			defer func() { cs.Close(); wait(); ss.Close() }()

			st, err := cs.OpenStream()
			if err != nil {
				t.Fatalf("open stream: %v", err)
			}
			req, resp := fill(100, 3), make([]byte, 100)
			for i := range rounds {
				if _, err := st.Write(req); err != nil {
					t.Fatalf("round %d: write: %v", i, err)
				}
				if _, err := io.ReadFull(st, resp); err != nil {
					t.Fatalf("round %d: read: %v", i, err)
				}
			}
			writes := counter.recorded()
			perFrame, frames := writesPerDataFrame(t, writes)
			if len(perFrame) != rounds {
				t.Fatalf("client sent %d data frames, want %d", len(perFrame), rounds)
			}
			for i, n := range perFrame {
				if n != tc.want {
					t.Fatalf("data frame %d took %d writes, want %d", i, n, tc.want)
				}
			}
			if want := frames + rounds*(tc.want-1); len(writes) != want {
				t.Errorf("%d writes for %d frames, want %d", len(writes), frames, want)
			}
		})
	}
}

// failConn makes every Write fail once fail is set, leaving reads working.
type failConn struct {
	net.Conn
	fail atomic.Bool
}

var errInjected = errors.New("injected write failure")

func (f *failConn) Write(p []byte) (int, error) {
	if f.fail.Load() {
		return 0, errInjected
	}
	return f.Conn.Write(p)
}

// writeUntilError writes to st until a write fails, or fails the test if
// that takes too long.
func writeUntilError(t *testing.T, st *yamux.Stream) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		p := fill(1000, 5)
		for {
			if _, err := st.Write(p); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		st.Session().Close() // unblocks the writer
		<-done
		t.Fatal("stream writes kept succeeding for 10s after the conn died")
	}
	select {
	case <-st.Session().CloseChan():
	case <-time.After(10 * time.Second):
		t.Fatal("session still open 10s after the conn died")
	}
}

func TestQuietWriteFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wrap    bool
		wantLog bool // expect yamux to log "Failed to write"
	}{
		{"raw", false, true}, // control: the log line the wrapper prevents
		{"wrapped", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			cc, sc := testutil.TCPPair(t)
			fc := &failConn{Conn: cc}
			var client io.ReadWriteCloser = fc
			wrapped := Wrap(fc)
			if tc.wrap {
				client = wrapped
			}
			var clog testutil.Buffer
			cs, ss := sessions(t, client, sc, &clog, io.Discard)
			wait := serve(ss, func(st *yamux.Stream) { io.Copy(io.Discard, st) })
			defer func() { cs.Close(); wait(); ss.Close() }()

			st, err := cs.OpenStream()
			if err != nil {
				t.Fatalf("open stream: %v", err)
			}
			if _, err := st.Write([]byte("before")); err != nil {
				t.Fatalf("write before failure: %v", err)
			}
			fc.fail.Store(true)
			writeUntilError(t, st)

			log := clog.String()
			if got := strings.Contains(log, "Failed to write"); got != tc.wantLog {
				t.Errorf("log has \"Failed to write\": %v, want %v; log:\n%s", got, tc.wantLog, log)
			}
			if tc.wrap {
				noErrors(t, "client", log)
				if err := wrapped.Err(); !errors.Is(err, errInjected) {
					t.Errorf("Err() = %v, want it to wrap %v", err, errInjected)
				}
			}
		})
	}
}

func TestPeerDies(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := testutil.TCPPair(t)
	var clog testutil.Buffer
	cs, ss := sessions(t, Wrap(cc), sc, &clog, io.Discard)
	received := make(chan struct{})
	wait := serve(ss, func(st *yamux.Stream) {
		io.CopyN(io.Discard, st, 1<<20)
		close(received)
		io.Copy(io.Discard, st)
	})
	defer func() { cs.Close(); wait(); ss.Close() }()

	st, err := cs.OpenStream()
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	go func() { <-received; sc.(*net.TCPConn).SetLinger(0); sc.Close() }() // RST mid-stream
	writeUntilError(t, st)
	if log := clog.String(); strings.Contains(log, "Failed to write") {
		t.Errorf("client yamux log has write failures:\n%s", log)
	}
}

func BenchmarkPingPong(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap bool
	}{{"raw", false}, {"wrapped", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cc, sc := testutil.TCPPair(b)
			var client, server io.ReadWriteCloser = cc, sc
			if bc.wrap {
				client, server = Wrap(cc), Wrap(sc)
			}
			cs, ss := sessions(b, client, server, io.Discard, io.Discard)
			wait := serve(ss, echo)
			defer func() { cs.Close(); wait(); ss.Close() }()
			st, err := cs.OpenStream()
			if err != nil {
				b.Fatalf("open stream: %v", err)
			}
			req, resp := fill(100, 1), make([]byte, 100)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Write(req); err != nil {
					b.Fatalf("write: %v", err)
				}
				if _, err := io.ReadFull(st, resp); err != nil {
					b.Fatalf("read: %v", err)
				}
			}
		})
	}
}

// When the peer's end of the connection goes away, every stream with a
// reader waiting, opened by either side, is ended: the readers return
// io.EOF before the session shuts down (left to yamux they would spin until
// Session.Close reached their stream), and yamux logs nothing about it.
func TestPeerGoneEndsEveryStream(t *testing.T) {
	defer goleak.VerifyNone(t)
	const dialed, accepted = 300, 50
	cc, sc := testutil.TCPPair(t)
	var clog testutil.Buffer
	cs, ss := sessions(t, Wrap(cc), sc, &clog, io.Discard)
	defer cs.Close()
	streams, _ := openBothWays(t, cs, ss, dialed, accepted)

	errs := make(chan error, len(streams))
	for _, st := range streams {
		go func() {
			_, err := st.Read(make([]byte, 1))
			errs <- err
		}()
	}
	sc.(*net.TCPConn).SetLinger(0) // the peer's process dies: RST
	ss.Close()
	timeout := time.After(10 * time.Second)
	for i := range streams {
		select {
		case err := <-errs:
			if err != io.EOF {
				t.Fatalf("reader %d returned %v, want io.EOF", i, err)
			}
		case <-timeout:
			t.Fatalf("%d of %d readers still waiting 10 s after the peer went away", len(streams)-i, len(streams))
		}
	}
	if err := cs.Close(); err != nil {
		t.Errorf("session Close: %v", err)
	}
	if log := clog.String(); log != "" {
		t.Errorf("yamux logged:\n%s", log)
	}
}

// openBothWays opens dialed streams from cs and accepted streams from ss,
// and returns both ends of each, established: cs's and ss's.
func openBothWays(t *testing.T, cs, ss *yamux.Session, dialed, accepted int) (local, remote []*yamux.Stream) {
	t.Helper()
	for range dialed {
		st, err := cs.OpenStream()
		if err != nil {
			t.Fatalf("open stream: %v", err)
		}
		pst, err := ss.AcceptStream()
		if err != nil {
			t.Fatalf("accept on the peer: %v", err)
		}
		local, remote = append(local, st), append(remote, pst)
	}
	for range accepted {
		pst, err := ss.OpenStream()
		if err != nil {
			t.Fatalf("open stream on the peer: %v", err)
		}
		if _, err := pst.Write([]byte{1}); err != nil {
			t.Fatalf("write on the peer: %v", err)
		}
		st, err := cs.AcceptStream()
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		if _, err := io.ReadFull(st, make([]byte, 1)); err != nil {
			t.Fatalf("read the peer's byte: %v", err)
		}
		local, remote = append(local, st), append(remote, pst)
	}
	return local, remote
}

// What the peer sent before its end of the connection went away is read
// whole, on every stream, before io.EOF: a reply written by a plugin that
// exits at once is not lost. The control forges RSTs at the end, as
// muxconn once did: yamux then returns ErrConnectionReset from a stream
// before reading what it buffered.
func TestPeerGoneKeepsBufferedData(t *testing.T) {
	for _, tc := range []struct {
		name     string
		forgeRST bool
		wantLoss bool
	}{
		{"fin", false, false},
		{"rst (control)", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			const dialed, accepted = 100, 20
			reply := fill(3000, 7)
			for _, linger := range []bool{false, true} {
				cc, sc := testutil.TCPPair(t)
				mc := Wrap(cc)
				if tc.forgeRST {
					mc.st.endFlag = frame.FlagRST
				}
				cs, ss := sessions(t, mc, sc, io.Discard, io.Discard)
				streams, peer := openBothWays(t, cs, ss, dialed, accepted)
				// Every stream of the peer but the first replies, then the
				// first says so; once that has been read here, yamux has
				// buffered every reply (it reads frames in order), and the
				// peer dies before anyone on this side reads them.
				for i, pst := range peer[1:] {
					if _, err := pst.Write(reply); err != nil {
						t.Fatalf("reply on the peer's stream %d: %v", i, err)
					}
				}
				if _, err := peer[0].Write([]byte{1}); err != nil {
					t.Fatalf("marker on the peer's stream: %v", err)
				}
				if _, err := io.ReadFull(streams[0], make([]byte, 1)); err != nil {
					t.Fatalf("reading the marker: %v", err)
				}
				streams = streams[1:]
				if linger {
					sc.(*net.TCPConn).SetLinger(0)
				}
				sc.Close()
				select {
				case <-mc.Ended():
				case <-time.After(10 * time.Second):
					t.Fatal("the end of the connection not read within 10 s")
				}
				lost := 0
				for i, st := range streams {
					got, err := io.ReadAll(st)
					switch {
					case err == nil && bytes.Equal(got, reply):
					case tc.wantLoss:
						lost++
					default:
						t.Fatalf("stream %d (linger %v): read %d bytes, %v; want the %d bytes of the reply, then io.EOF", i, linger, len(got), err, len(reply))
					}
				}
				if tc.wantLoss && lost == 0 {
					t.Errorf("linger %v: no reply lost with forged RSTs; the test does not tell FIN from RST", linger)
				}
				cs.Close()
				ss.Close()
			}
		})
	}
}

// CloseWrite hangs up the write side only: the peer reads the end of the
// connection, what the peer still sends arrives, and later Writes are
// discarded without an error.
func TestCloseWrite(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := testutil.TCPPair(t)
	defer sc.Close()
	c := Wrap(cc)
	defer c.Close()
	if _, err := c.Write([]byte("before")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if n, err := c.Write([]byte("after")); n != 5 || err != nil {
		t.Errorf("Write after CloseWrite = %d, %v; want 5, nil", n, err)
	}
	got, err := io.ReadAll(sc)
	if err != nil || string(got) != "before" {
		t.Errorf("the peer read %q, %v; want \"before\" and the end of the connection", got, err)
	}
	if _, err := sc.Write([]byte("reply")); err != nil {
		t.Fatalf("the peer's Write: %v", err)
	}
	sc.Close()
	got, err = io.ReadAll(c)
	if err != nil || string(got) != "reply" {
		t.Errorf("read after CloseWrite %q, %v; want \"reply\"", got, err)
	}
	select {
	case <-c.Ended():
	default:
		t.Error("Ended is not closed after the peer closed its side")
	}
}

// TestReadAfter: with ReadAfter, yamux starts and sends while the peer's
// answer is on the way; the first read checks the answer before yamux
// sees a byte. A failed check ends the session quietly and is kept in Err.
func TestReadAfter(t *testing.T) {
	errBad := errors.New("bad answer")
	for _, tc := range []struct {
		name   string
		answer string
	}{
		{"good answer", "OK"},
		{"bad answer", "NO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			cc, sc := testutil.TCPPair(t)
			client := Wrap(cc)
			var checks atomic.Int32
			client.ReadAfter(func() error {
				checks.Add(1)
				var a [2]byte
				if _, err := io.ReadFull(cc, a[:]); err != nil {
					return err
				}
				if string(a[:]) != "OK" {
					return fmt.Errorf("%w %q", errBad, a[:])
				}
				return nil
			})
			var clog, slog testutil.Buffer
			cfg := yamux.DefaultConfig()
			cfg.LogOutput = &clog
			cs, err := yamux.Client(client, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			// The client opens a stream and sends before the answer exists.
			st, err := cs.OpenStream()
			if err != nil {
				t.Fatalf("open stream: %v", err)
			}
			if _, err := st.Write([]byte("ping")); err != nil {
				t.Fatalf("write before the answer: %v", err)
			}
			if _, err := sc.Write([]byte(tc.answer)); err != nil {
				t.Fatal(err)
			}
			scfg := yamux.DefaultConfig()
			scfg.LogOutput = &slog
			ss, err := yamux.Server(Wrap(sc), scfg)
			if err != nil {
				t.Fatal(err)
			}
			wait := serve(ss, echo)
			defer func() { ss.Close(); wait() }()

			got := make([]byte, 4)
			_, err = io.ReadFull(st, got)
			if tc.answer == "OK" {
				if err != nil || string(got) != "ping" {
					t.Errorf("echo = %q, %v; want \"ping\"", got, err)
				}
				if err := client.Err(); err != nil {
					t.Errorf("Err() = %v after a good answer", err)
				}
			} else {
				if err == nil {
					t.Errorf("read %q from a peer whose answer failed the check", got)
				}
				select {
				case <-cs.CloseChan():
				case <-time.After(testutil.Slack(5 * time.Second)):
					t.Fatal("session still open 5 s after the answer failed the check")
				}
				if err := client.Err(); !errors.Is(err, errBad) {
					t.Errorf("Err() = %v, want the check's error", err)
				}
			}
			if n := checks.Load(); n != 1 {
				t.Errorf("check ran %d times, want once", n)
			}
			noErrors(t, "client", clog.String())
		})
	}
}

// deadlineConn is a TCP conn whose writes fail once fail is set, and which
// remembers the last read deadline set on it.
type deadlineConn struct {
	*net.TCPConn
	fail     atomic.Bool
	mu       sync.Mutex
	deadline time.Time
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if d.fail.Load() {
		return 0, errInjected
	}
	return d.TCPConn.Write(p)
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	d.deadline = t
	d.mu.Unlock()
	return d.TCPConn.SetReadDeadline(t)
}

// TestReadAfterKeepsDrainDeadline: a write that fails while the check is
// running sets a read deadline; a check that clears deadlines (as the
// preamble's does) must not make Read wait forever on a silent peer.
func TestReadAfterKeepsDrainDeadline(t *testing.T) {
	cc, sc := testutil.TCPPair(t)
	defer sc.Close()
	dc := &deadlineConn{TCPConn: cc.(*net.TCPConn)}
	c := Wrap(dc)
	defer c.Close()
	started, release := make(chan struct{}), make(chan struct{})
	c.ReadAfter(func() error {
		close(started)
		<-release
		return dc.SetReadDeadline(time.Time{})
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 16))
		done <- err
	}()
	<-started
	dc.fail.Store(true)
	_, _ = c.Write([]byte("frame"))
	close(release)
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("Read = %v, want io.EOF once the drain deadline passed", err)
		}
	case <-time.After(testutil.Slack(drainTimeout + 5*time.Second)):
		t.Fatal("Read still blocked: the check cleared the drain deadline")
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.deadline.IsZero() {
		t.Error("no read deadline left after the check")
	}
}
