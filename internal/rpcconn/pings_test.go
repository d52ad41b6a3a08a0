package rpcconn

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/plugwire/plugwire/internal/frame"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastKeepalive is yamux's default config with a faster keepalive: a
// ping every 200 ms (not 30 s), answered within 1 s (not 10 s), which
// leaves a loaded machine time to deliver the local answers.
func fastKeepalive() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.KeepAliveInterval = 200 * time.Millisecond
	cfg.ConnectionWriteTimeout = time.Second
	cfg.LogOutput = io.Discard
	return cfg
}

// A plugin that does not answer (as when stopped at a breakpoint) keeps
// its session while the host answers its own keepalive pings; without
// that, the same session ends at its first unanswered ping. The frames
// the plugin sends afterwards still arrive whole.
func TestLocalKeepalive(t *testing.T) {
	for _, local := range []bool{false, true} {
		name := map[bool]string{false: "yamux alone", true: "answered locally"}[local]
		t.Run(name, func(t *testing.T) {
			hostEnd, pluginEnd := testutil.TCPPair(t)
			defer pluginEnd.Close()
			var rwc io.ReadWriteCloser = muxconn.Wrap(hostEnd)
			var lp *localPings
			if local {
				lp = newLocalPings(rwc)
				rwc = lp
			}
			sess, err := yamux.Client(rwc, fastKeepalive())
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			// The plugin is "stopped": it reads nothing and sends nothing
			// for fifteen keepalive intervals, longer than yamux alone
			// lasts (an interval and a timeout).
			t0 := time.Now()
			select {
			case <-sess.CloseChan():
				if local {
					t.Fatalf("session ended after %v with the pings answered locally", time.Since(t0))
				}
				return // yamux alone: ended by its keepalive, as in production
			case <-time.After(testutil.Slack(15 * fastKeepalive().KeepAliveInterval)):
				if !local {
					t.Fatal("session survived unanswered keepalives: the test does not reproduce the problem")
				}
			}
			if n := lp.answered.Load(); n < 5 {
				t.Fatalf("%d pings answered in fifteen intervals", n)
			}
			// The plugin "resumes": a server session on its end opens a
			// stream and sends a large frame's worth of data, which the
			// host reads whole, between its own ping answers.
			ps, err := yamux.Server(pluginEnd, fastKeepalive())
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			payload := make([]byte, 200<<10)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			sent := make(chan error, 1)
			go func() {
				st, err := ps.Open()
				if err == nil {
					_, err = st.Write(payload)
					st.Close()
				}
				sent <- err
			}()
			st, err := sess.Accept()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(st)
			if err != nil || string(got) != string(payload) {
				t.Fatalf("read %d bytes (%v), want the %d sent", len(got), err, len(payload))
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if _, err := sess.Ping(); err != nil {
				t.Fatalf("ping after resuming: %v", err)
			}
		})
	}
}

// pipeConn reads what the test writes to w, and discards what it is sent.
type pipeConn struct {
	*io.PipeReader
	sent [][]byte
}

func (p *pipeConn) Write(b []byte) (int, error) {
	p.sent = append(p.sent, append([]byte(nil), b...))
	return len(b), nil
}

// A ping answered while a frame from the plugin is half read comes after
// that frame, never inside it; ping requests are not sent, everything else
// is, a data frame's body included even when it looks like a ping.
func TestLocalPingsFrameBoundaries(t *testing.T) {
	r, w := io.Pipe()
	pc := &pipeConn{PipeReader: r}
	l := newLocalPings(pc)
	defer l.Close()

	body := []byte("0123456789")
	go func() {
		_, _ = w.Write(frame.Header(frame.TypeData, 0, 1, uint32(len(body))))
		_, _ = w.Write(body[:4])
	}()
	got := make([]byte, frame.HeaderSize)
	if _, err := io.ReadFull(l, got); err != nil || string(got) != string(frame.Header(frame.TypeData, 0, 1, 10)) {
		t.Fatalf("header: %x, %v", got, err)
	}
	// yamux pings while the body is still on its way.
	ping := frame.Header(frame.TypePing, frame.FlagSYN, 0, 77)
	if n, err := l.Write(ping); n != frame.HeaderSize || err != nil {
		t.Fatalf("Write(ping) = %d, %v", n, err)
	}
	done := make(chan []byte)
	go func() {
		b := make([]byte, 64)
		n, _ := l.Read(b)
		done <- b[:n]
	}()
	_, _ = w.Write(body[4:])
	if b := <-done; string(b) != string(body) {
		t.Fatalf("after the header, Read returned %q, want the body %q", b, body)
	}
	ack := make([]byte, frame.HeaderSize)
	if _, err := io.ReadFull(l, ack); err != nil || string(ack) != string(frame.Header(frame.TypePing, frame.FlagACK, 0, 77)) {
		t.Fatalf("ping answer %x, %v", ack, err)
	}
	// A data frame whose body is twelve bytes that look like a ping is sent.
	fake := frame.Header(frame.TypePing, frame.FlagSYN, 0, 5)
	for _, p := range [][]byte{frame.Header(frame.TypeData, 0, 3, frame.HeaderSize), fake, frame.Header(frame.TypePing, frame.FlagACK, 0, 9)} {
		_, _ = l.Write(p)
	}
	if len(pc.sent) != 3 || string(pc.sent[1]) != string(fake) {
		t.Fatalf("sent %x, want the data header, its body and the ping answer", pc.sent)
	}
	_ = w.Close()
	if n, err := l.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v; want io.EOF", n, err)
	}
}
