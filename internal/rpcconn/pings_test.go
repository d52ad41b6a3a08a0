package rpcconn

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/plugwire/plugwire/internal/muxconn"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (host, plugin net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	host, err = net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	plugin = <-acc
	if plugin == nil {
		t.Fatal("accept failed")
	}
	return host, plugin
}

// fastKeepalive is yamux's default config with a keepalive a hundred
// times faster: a ping every 300 ms, answered within 100 ms.
func fastKeepalive() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.KeepAliveInterval = 300 * time.Millisecond
	cfg.ConnectionWriteTimeout = 100 * time.Millisecond
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
			hostEnd, pluginEnd := tcpPair(t)
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
			// for ten keepalive intervals.
			t0 := time.Now()
			select {
			case <-sess.CloseChan():
				if local {
					t.Fatalf("session ended after %v with the pings answered locally", time.Since(t0))
				}
				return // yamux alone: ended by its keepalive, as in production
			case <-time.After(10 * fastKeepalive().KeepAliveInterval):
				if !local {
					t.Fatal("session survived unanswered keepalives: the test does not reproduce the problem")
				}
			}
			if n := lp.answered.Load(); n < 5 {
				t.Fatalf("%d pings answered in ten intervals", n)
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
