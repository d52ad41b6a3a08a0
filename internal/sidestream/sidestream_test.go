package sidestream

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func loopbackListen() (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
}

func newSide(t *testing.T) (plugin, host *Side) {
	t.Helper()
	s, err := wire.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return &Side{Secret: s, Listen: loopbackListen}, &Side{Secret: s}
}

// The bytes go both ways over the side connection, which the host dialed
// and proved; closing either end ends the other's read.
func TestSideConnection(t *testing.T) {
	ps, hs := newSide(t)
	pb, hb := testutil.TCPPair(t) // the broker stream's stand-in
	dialed := Dialed.Load()
	p, h := New(pb, ps, true), New(hb, hs, false)
	defer p.Close()
	defer h.Close()
	if _, err := h.Write([]byte("to plugin")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := io.ReadFull(p, buf); err != nil || string(buf) != "to plugin" {
		t.Fatalf("plugin read %q, %v", buf, err)
	}
	if _, err := p.Write([]byte("to host")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(h, buf[:7]); err != nil || string(buf[:7]) != "to host" {
		t.Fatalf("host read %q, %v", buf[:7], err)
	}
	if Dialed.Load() != dialed+1 {
		t.Errorf("Dialed went from %d to %d, want one more", dialed, Dialed.Load())
	}
	if p.io == pb || h.io == hb {
		t.Errorf("the bytes stayed on the broker stream")
	}
	_ = p.Close()
	if n, err := h.Read(buf); err == nil {
		t.Errorf("host read %d bytes after the plugin closed, no error", n)
	}
	// The broker stream is closed too.
	_ = hb.SetReadDeadline(time.Now().Add(testutil.Slack(5 * time.Second)))
	if _, err := hb.Read(buf); err != io.EOF {
		t.Errorf("broker stream after the plugin's Close: %v, want EOF", err)
	}
}

// A host that sends everything and closes both connections, maybe before
// the plugin's accept has returned, does not end the plugin's stream: the
// broker stream's end is not the host's refusal.
func TestHostDoneFirst(t *testing.T) {
	ps, hs := newSide(t)
	data := make([]byte, 100<<10)
	for i := range 30 {
		pb, hb := testutil.TCPPair(t)
		p, h := New(pb, ps, true), New(hb, hs, false)
		go func() {
			_, _ = h.Write(data)
			_ = h.Close()
		}()
		got, err := io.ReadAll(p)
		_ = p.Close()
		if err != nil || len(got) != len(data) {
			t.Fatalf("round %d: the plugin read %d bytes, %v; want %d", i, len(got), err, len(data))
		}
	}
}

// A plugin without side information, or whose listener fails, sends 'y'
// and the bytes stay on the broker stream; a host without side information
// follows 'y'.
func TestStay(t *testing.T) {
	ps, hs := newSide(t)
	ps.Listen = func() (net.Listener, error) { return nil, wire.ErrNoFreePort }
	for _, tc := range []struct {
		name   string
		plugin *Side
		host   *Side
	}{{"no free port", ps, hs}, {"no side information", nil, nil}} {
		t.Run(tc.name, func(t *testing.T) {
			pb, hb := testutil.TCPPair(t)
			p, h := New(pb, tc.plugin, true), New(hb, tc.host, false)
			defer p.Close()
			defer h.Close()
			if _, err := h.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			if _, err := io.ReadFull(p, b); err != nil || b[0] != 'x' {
				t.Fatalf("plugin read %q, %v", b, err)
			}
			if p.io != pb || h.io != hb {
				t.Errorf("the bytes did not stay on the broker stream")
			}
		})
	}
}

// A host without side information that is sent 'u' fails clearly, as it
// does for a first frame that is neither 'u' nor 'y' or an address that is
// not loopback.
func TestFollowRefuses(t *testing.T) {
	ps, _ := newSide(t)
	for _, tc := range []struct {
		name  string
		first []byte
		want  string
	}{
		{"no side information", nil, "cannot follow a stream"},
		{"unknown frame", []byte("d\x00\x00\x00\x00"), "first frame has type 'd'"},
		{"y with a body", []byte("y\x00\x00\x00\x03abc"), "'y' first frame has a 3-byte body"},
		{"not loopback", append([]byte("u\x00\x00\x00\x0c"), "10.0.0.1:123"...), `"10.0.0.1:123" is not a loopback`},
		{"long address", []byte("u\x00\x00\x01\x00"), "256 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pb, hb := testutil.TCPPair(t)
			var p *Conn
			if tc.first == nil {
				p = New(pb, ps, true)
				defer p.Close()
			} else if _, err := pb.Write(tc.first); err != nil {
				t.Fatal(err)
			}
			h := New(hb, nil, false)
			defer h.Close()
			_, err := h.Write([]byte("x"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write: %v, want an error saying %q", err, tc.want)
			}
			if p == nil {
				return
			}
			// The host's 'n' ends the plugin's wait for its connection
			// at once, and the plugin says why.
			if !errors.Is(err, ErrNoSide) {
				t.Errorf("Write: %v, want ErrNoSide", err)
			}
			_ = h.Close()
			_, err = p.Read(make([]byte, 1))
			if err == nil || !strings.Contains(err.Error(), "the host will not connect") {
				t.Errorf("plugin's Read: %v, want the host's end named", err)
			}
		})
	}
}

// Close ends the settling at once on both sides: the plugin waiting for
// its host's connection, the host waiting for the first frame. Nothing is
// left running (TestMain).
func TestCloseWhileSettling(t *testing.T) {
	ps, hs := newSide(t)
	t.Run("plugin", func(t *testing.T) {
		pb, hb := testutil.TCPPair(t)
		p := New(pb, ps, true)
		var hdr [hdrSize]byte
		if _, err := io.ReadFull(hb, hdr[:]); err != nil || hdr[0] != frameSide {
			t.Fatalf("first frame %q, %v", hdr, err)
		}
		_ = p.Close()
		if _, err := p.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close while accepting: %v, want net.ErrClosed", err)
		}
	})
	t.Run("host", func(t *testing.T) {
		_, hb := testutil.TCPPair(t)
		h := New(hb, hs, false)
		time.Sleep(10 * time.Millisecond) // let it wait for the first frame
		_ = h.Close()
		if _, err := h.Write([]byte("x")); err == nil {
			t.Errorf("Write after Close while waiting for the first frame: no error")
		}
	})
}

// A host that gives a stream up while it settles (its call ended: a past
// deadline and Close, as package contract does) tells the plugin, which
// stops waiting for its connection at once rather than holding its
// listener, and the call's method, until acceptWait: whether the host gave
// up before it read 'u', or while it dialed.
func TestHostGivesUpWhileSettling(t *testing.T) {
	ps, hs := newSide(t)
	const want = "the host will not connect"
	giveUp := func(h *Conn) {
		_ = h.SetDeadline(past)
		_ = h.Close()
	}
	t.Run("before reading u", func(t *testing.T) {
		pb, hb := testutil.TCPPair(t)
		h := New(hb, hs, false)
		giveUp(h)
		p := New(pb, ps, true)
		defer p.Close()
		if _, err := p.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("plugin's Read: %v, want an error saying %q", err, want)
		}
	})
	t.Run("while dialing", func(t *testing.T) {
		pb, hb := testutil.TCPPair(t)
		var h *Conn
		SetBeforeDial(func(string) { giveUp(h) })
		defer SetBeforeDial(nil)
		h = New(hb, hs, false)
		p := New(pb, ps, true)
		defer p.Close()
		if _, err := p.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("plugin's Read: %v, want an error saying %q", err, want)
		}
		if _, err := h.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("host's Write after its Close: %v, want net.ErrClosed", err)
		}
	})
}

// A host that reads 'u' and neither connects nor says 'n' (kept off the
// CPU, or not plugwire's) ends the plugin's wait after acceptWait, with
// an error that says so; nothing is left running (TestMain).
func TestHostNeverDials(t *testing.T) {
	ps, _ := newSide(t)
	defer func(d time.Duration) { acceptWait = d }(acceptWait)
	acceptWait = 300 * time.Millisecond
	pb, hb := testutil.TCPPair(t)
	p := New(pb, ps, true)
	defer p.Close()
	hdr := make([]byte, hdrSize+wire.MaxAddressLine)
	n, err := hb.Read(hdr)
	if err != nil || n < hdrSize || hdr[0] != frameSide {
		t.Fatalf("first frame %q, %v", hdr[:n], err)
	}
	addr := string(hdr[hdrSize:n])
	_, err = p.Read(make([]byte, 1))
	if want := "side connection at " + addr + ": the host did not connect and prove the secret within 300ms"; err == nil || err.Error() != want {
		t.Errorf("plugin's Read: %v, want %q", err, want)
	}
}
