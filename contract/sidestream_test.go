package contract_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/sidestream"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
)

// checkStreams runs an upload, a download, and a download the plugin
// makes from the host's callback (the host is the callee), and checks
// that every byte arrived.
func checkStreams(t *testing.T, tt Tester) {
	t.Helper()
	ctx := context.Background()
	const n = 3<<20 + 17
	if got, sum, err := tt.Sum(ctx, -1, &patternReader{n: n, failAt: -1}); err != nil || got != n || sum != patternSum(n) {
		t.Errorf("upload: Sum = %d, %s, %v; want %d, %s", got, sum, err, n, patternSum(n))
	}
	w := &checkWriter{failAt: -1}
	if wrote, err := tt.Gen(ctx, n, -1, w); err != nil || wrote != n || w.n != n || w.bad != 0 {
		t.Errorf("download: Gen = %d, %v; the writer got %d bytes, first wrong at %d", wrote, err, w.n, w.bad-1)
	}
	got, err := tt.Relay(ctx, n, n+1, &tester{})
	if want := "wrote=3145745 enough=false nil"; err != nil || got != want {
		t.Errorf("the plugin's download from the host: %s (%v), want %s", got, err, want)
	}
}

// Every stream moves to a TCP connection of its own, which the host dials
// and proves: as caller (upload, download) and as callee (the plugin's call
// to a callback).
func TestStreamSideConnection(t *testing.T) {
	tt, _ := startTester(t, "one")
	dialed, stayed := sidestream.Dialed.Load(), sidestream.Stayed.Load()
	checkStreams(t, tt)
	if d, s := sidestream.Dialed.Load()-dialed, sidestream.Stayed.Load()-stayed; d != 3 || s != 0 {
		t.Errorf("the host dialed %d side connections and kept %d streams on yamux, want 3 and 0", d, s)
	}
}

// A plugin whose port range is full (its one port, free again once its
// listener has accepted the host, taken by another process: here the test)
// keeps its streams on their broker streams ('y'), which work as before.
func TestStreamSideFullRange(t *testing.T) {
	port := freePort(t)
	c := host.NewClient(&host.Config{
		Cmd:     helperCmd("tester"),
		Plugins: map[string]plugin.Plugin{"tester": Testers.Plugin(nil)},
		Logger:  hclog.NewNullLogger(),
		MinPort: port,
		MaxPort: port,
	})
	t.Cleanup(c.Kill)
	tt, err := host.Dispense[Tester](c, "tester/one")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("taking the plugin's port back: %v", err)
	}
	defer func() { _ = ln.Close() }()
	dialed, stayed := sidestream.Dialed.Load(), sidestream.Stayed.Load()
	checkStreams(t, tt)
	if d, s := sidestream.Dialed.Load()-dialed, sidestream.Stayed.Load()-stayed; d != 0 || s != 3 {
		t.Errorf("the host dialed %d side connections and kept %d streams on yamux, want 0 and 3", d, s)
	}
}

// Connections to a stream's side listener that do not prove the secret,
// one silent and one with a wrong proof, made before the host's, get the
// plugin's greeting and nothing of the stream; the host's gets it.
func TestStreamSideUnproven(t *testing.T) {
	tt, _ := startTester(t, "one")
	var mu sync.Mutex
	var rogues []net.Conn
	var addrs []string
	sidestream.SetBeforeDial(func(addr string) {
		mu.Lock()
		defer mu.Unlock()
		addrs = append(addrs, addr)
		for _, proof := range [][]byte{nil, make([]byte, wire.ProofSize)} {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("dialing the side listener at %s: %v", addr, err)
				return
			}
			rogues = append(rogues, conn)
			if proof != nil {
				_, _ = conn.Write(append(wire.Intro(wire.ProtocolVersion), proof...))
			}
		}
	})
	defer sidestream.SetBeforeDial(nil)
	checkStreams(t, tt)
	sidestream.SetBeforeDial(nil)
	mu.Lock()
	defer mu.Unlock()
	if len(addrs) != 3 {
		t.Fatalf("the host dialed %d side listeners (%v), want 3", len(addrs), addrs)
	}
	for i, conn := range rogues {
		// The listener is closed, and so is every connection that did
		// not prove the secret, once the host's is accepted.
		_ = conn.SetReadDeadline(time.Now().Add(testutil.Slack(10 * time.Second)))
		got, err := io.ReadAll(conn)
		_ = conn.Close()
		// No bytes at all is right too: the listener's accept loop may
		// close a connection before its handshake wrote the greeting, and
		// a reset rather than an end when the plugin closed it with the
		// rogue's proof unread. What must never come is a stream's byte,
		// or a hang.
		greeted := len(got) == wire.GreetingSize && strings.HasPrefix(string(got), "plugwire")
		if errors.Is(err, os.ErrDeadlineExceeded) || (len(got) != 0 && !greeted) {
			t.Errorf("connection %d to %s got %d bytes (%q...), %v; want the %d-byte greeting or nothing, then the end",
				i, addrs[i/2], len(got), got[:min(len(got), 12)], err, wire.GreetingSize)
		}
	}
}

// freePort returns a free port below Linux's ephemeral range, where no
// outgoing connection takes it meanwhile.
func freePort(t *testing.T) int {
	t.Helper()
	for p := 31900; p < 32768; p++ {
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			_ = ln.Close()
			return p
		}
	}
	t.Fatal("no free port in 31900-32767")
	return 0
}

// ownPlugin is a host's own Plugin around a contract's, which does not
// pass plugwire's connection on (package shared's Plugins do the same on
// both sides; here the plugin serves the contract's Plugin itself).
type ownPlugin struct{ plugin.Plugin }

// A host that serves a contract in a Plugin of its own cannot follow a
// plugin's stream to its side connection: the call fails at once, saying
// so, on both sides.
func TestStreamSideHostWithoutSide(t *testing.T) {
	c := host.NewClient(&host.Config{
		Cmd:     helperCmd("tester"),
		Plugins: map[string]plugin.Plugin{"tester": ownPlugin{Testers.Plugin(nil)}},
		Logger:  hclog.NewNullLogger(),
	})
	t.Cleanup(c.Kill)
	tt, err := host.Dispense[Tester](c, "tester/one")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const want = "the host will not connect"
	if _, _, err := tt.Sum(ctx, -1, &patternReader{n: 100, failAt: -1}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("upload: %v, want an error saying %q", err, want)
	}
	if _, err := tt.Gen(ctx, 100, -1, &checkWriter{failAt: -1}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("download: %v, want an error saying %q", err, want)
	}
	// Calls without streams work.
	if got, err := tt.Echo("x", nil, nil, nil); err != nil || !strings.Contains(got, "x") {
		t.Errorf("Echo: %q, %v", got, err)
	}
}

// Kill while a stream's side connection is still settling: the method has
// returned (Gen of nothing), and its end frame waits for the host's
// connection, which the host holds back. The hang-up cancels the call,
// which ends the wait: the plugin exits at once, not at the end of its
// wait for the host's connection (20 s) or of its grace (a minute here).
func TestKillWhileStreamSettles(t *testing.T) {
	c := host.NewClient(&host.Config{
		Cmd:       helperCmd("tester"),
		Plugins:   map[string]plugin.Plugin{"tester": Testers.Plugin(nil)},
		Logger:    hclog.NewNullLogger(),
		KillGrace: time.Minute,
	})
	t.Cleanup(c.Kill)
	tt, err := host.Dispense[Tester](c, "tester/one")
	if err != nil {
		t.Fatal(err)
	}
	dialing, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sidestream.SetBeforeDial(func(string) {
		once.Do(func() { close(dialing) })
		<-release
	})
	defer sidestream.SetBeforeDial(nil)
	errc := make(chan error, 1)
	go func() {
		_, err := tt.Gen(context.Background(), 0, -1, &checkWriter{failAt: -1})
		errc <- err
	}()
	<-dialing
	killed := make(chan struct{})
	go func() {
		c.Kill()
		close(killed)
	}()
	select {
	case <-killed:
	case <-time.After(testutil.Slack(10 * time.Second)):
		t.Errorf("Kill still waiting after %v: the plugin's call waits for its stream's side connection", testutil.Slack(10*time.Second))
		<-killed
	}
	close(release)
	// The method's answer may have come before the hang-up.
	if err := <-errc; err != nil && !errors.Is(err, host.ErrProcessExited) {
		t.Errorf("Gen during Kill: %v, want its answer or ErrProcessExited", err)
	}
}
