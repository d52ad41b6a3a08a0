package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// plugin is a scripted plugin side for the host's half of the preamble:
// greet, read the intro and proof, and answer.
type plugin struct {
	greeting func() []byte                              // nil: close at once
	answer   func(greeting, intro, proof []byte) []byte // nil: no answer
}

func (pl plugin) run(conn net.Conn) {
	if pl.greeting == nil {
		_ = conn.Close()
		return
	}
	g := pl.greeting()
	if _, err := conn.Write(g); err != nil {
		return
	}
	msg := make([]byte, IntroSize+ProofSize)
	if _, err := io.ReadFull(conn, msg); err != nil {
		return
	}
	if pl.answer != nil {
		_, _ = conn.Write(append(pl.answer(g, msg[:IntroSize], msg[IntroSize:]), "yamux frames"...))
	}
}

func mustGreeting(t *testing.T, v uint32) []byte {
	t.Helper()
	g, err := Greeting(v)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestHostSide: SendHello introduces the host, reads the greeting and
// sends the proof; Check reads the plugin's answer, exactly its bytes, and
// names what is wrong with it.
func TestHostSide(t *testing.T) {
	s, other := mustSecret(t), mustSecret(t)
	good := func(g, i, p []byte) []byte { return Answer(s, StatusOK, g, i, p) }
	for _, tc := range []struct {
		name     string
		pl       plugin
		helloErr error // want from SendHello
		checkErr error // want from Check
		wantMsg  string
	}{
		{name: "good", pl: plugin{func() []byte { return mustGreeting(t, ProtocolVersion) }, good}},
		{name: "wrong secret", pl: plugin{func() []byte { return mustGreeting(t, ProtocolVersion) },
			func(g, i, p []byte) []byte { return Answer(other, StatusOK, g, i, p) }},
			checkErr: ErrHandshake, wantMsg: "did not prove this launch's secret"},
		{name: "answer for another transcript", pl: plugin{func() []byte { return mustGreeting(t, ProtocolVersion) },
			func(g, i, p []byte) []byte { return Answer(s, StatusOK, mustGreeting(t, ProtocolVersion), i, p) }},
			checkErr: ErrHandshake, wantMsg: "did not prove"},
		{name: "status altered", pl: plugin{func() []byte { return mustGreeting(t, ProtocolVersion) },
			func(g, i, p []byte) []byte { a := Answer(s, StatusOK, g, i, p); a[0] = 7; return a }},
			checkErr: ErrHandshake, wantMsg: "did not prove"},
		{name: "unknown status", pl: plugin{func() []byte { return mustGreeting(t, ProtocolVersion) },
			func(g, i, p []byte) []byte { return Answer(s, 9, g, i, p) }},
			checkErr: ErrHandshake, wantMsg: "unknown status 9"},
		{name: "other version", pl: plugin{func() []byte { return mustGreeting(t, 7) }, nil},
			helloErr: ErrVersionMismatch, wantMsg: fmt.Sprintf("plugin speaks plugwire protocol 7, this host speaks %d", ProtocolVersion)},
		{name: "not plugwire", pl: plugin{func() []byte { return []byte(strings.Repeat("HTTP/1.1 ", 5)) }, nil},
			helloErr: ErrHandshake, wantMsg: "not a plugwire plugin"},
		{name: "closes at once", pl: plugin{}, helloErr: errAny, wantMsg: "closed the connection before its greeting"},
		{name: "silent after greeting", pl: plugin{func() []byte { return mustGreeting(t, ProtocolVersion) }, nil},
			checkErr: os.ErrDeadlineExceeded, wantMsg: "closed the connection during the handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, plug := testutil.TCPPair(t)
			defer host.Close()
			defer plug.Close()
			go func() {
				// The intro goes out at once, before the greeting is read.
				tc.pl.run(plug)
			}()
			p, err := SendHello(host, s, time.Now().Add(testutil.Slack(300*time.Millisecond)))
			if tc.helloErr != nil {
				if err == nil || (tc.helloErr != errAny && !errors.Is(err, tc.helloErr)) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("SendHello = %v, want %v saying %q", err, tc.helloErr, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("SendHello: %v", err)
			}
			if p.Err() != nil {
				t.Errorf("Err() = %v before Check", p.Err())
			}
			err = p.Check()
			<-p.Done()
			if err != p.Err() || err != p.Check() {
				t.Errorf("Check() = %v, Err() = %v, second Check() = %v: want one result", err, p.Err(), p.Check())
			}
			if tc.checkErr == nil {
				if err != nil {
					t.Fatalf("Check() = %v, want success", err)
				}
				got := make([]byte, len("yamux frames"))
				if _, err := io.ReadFull(host, got); err != nil || string(got) != "yamux frames" {
					t.Errorf("after Check the connection reads %q, %v; want the frames behind the answer", got, err)
				}
				return
			}
			if !errors.Is(err, tc.checkErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Check() = %v, want %v saying %q", err, tc.checkErr, tc.wantMsg)
			}
		})
	}
}

// host is a scripted host side for the plugin's half of the preamble.
type host struct {
	intro func() []byte                       // nil: send nothing
	proof func(greeting, intro []byte) []byte // nil: send no proof
}

// TestPluginSide: prove answers only a host that proves the secret over
// this connection's transcript, and says nothing but its greeting to
// anything else.
func TestPluginSide(t *testing.T) {
	s, other := mustSecret(t), mustSecret(t)
	intro := func() []byte { return Intro(ProtocolVersion) }
	proof := func(sec Secret) func(g, i []byte) []byte {
		return func(g, i []byte) []byte {
			p, err := HostProof(sec, g, i)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	// A proof recorded on another connection of the same launch.
	replayed := func(g, i []byte) []byte { return proof(s)(mustGreeting(t, ProtocolVersion), i) }
	for _, tc := range []struct {
		name      string
		h         host
		wantOK    bool
		wantOther uint32
	}{
		{"good", host{intro, proof(s)}, true, 0},
		{"wrong secret", host{intro, proof(other)}, false, 0},
		{"replayed proof", host{intro, replayed}, false, 0},
		{"proof with a flipped bit", host{intro, func(g, i []byte) []byte { p := proof(s)(g, i); p[40] ^= 1; return p }}, false, 0},
		{"other version", host{func() []byte { return Intro(5) }, nil}, false, 5},
		{"garbage", host{func() []byte { return []byte("GET / HTTP/1.1\r\n") }, nil}, false, 0},
		{"silent", host{}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostEnd, plug := testutil.TCPPair(t)
			defer plug.Close()
			defer hostEnd.Close()
			received := make(chan []byte, 1)
			go func() {
				defer close(received)
				g := make([]byte, GreetingSize)
				if _, err := io.ReadFull(hostEnd, g); err != nil {
					return
				}
				var i []byte
				if tc.h.intro != nil {
					i = tc.h.intro()
					_, _ = hostEnd.Write(i)
				}
				if tc.h.proof != nil {
					_, _ = hostEnd.Write(tc.h.proof(g, i))
				}
				_ = hostEnd.SetReadDeadline(time.Now().Add(time.Second))
				rest, _ := io.ReadAll(hostEnd)
				received <- append(g, rest...)
			}()
			ok, otherV := prove(plug, s, testutil.Slack(200*time.Millisecond), func() bool { return true })
			if ok != tc.wantOK || otherV != tc.wantOther {
				t.Fatalf("prove = %v, %d; want %v, %d", ok, otherV, tc.wantOK, tc.wantOther)
			}
			_ = plug.Close()
			got := <-received
			if v, isPlugwire := version(got); !isPlugwire || v != ProtocolVersion {
				t.Errorf("the plugin's first bytes %q are not a greeting of version %d", got, ProtocolVersion)
			}
			want := GreetingSize
			if tc.wantOK {
				want += AnswerSize
			}
			if len(got) != want {
				t.Errorf("the other side received %d bytes, want %d (greeting%s)", len(got), want, map[bool]string{true: " and answer"}[tc.wantOK])
			}
		})
	}
}

// TestProveClaimed: a connection closed (evicted) while its proof was
// checked gets no answer and does not count.
func TestProveClaimed(t *testing.T) {
	s := mustSecret(t)
	hostEnd, plug := testutil.TCPPair(t)
	defer plug.Close()
	defer hostEnd.Close()
	go func() { _ = Prove(hostEnd, s, time.Now().Add(time.Second)) }()
	if ok, _ := prove(plug, s, time.Second, func() bool { return false }); ok {
		t.Error("prove succeeded for a connection that was no longer held")
	}
}

// TestSecretNeverOnTheWire: nothing either side sends contains the secret.
func TestSecretNeverOnTheWire(t *testing.T) {
	s := mustSecret(t)
	a, b := testutil.TCPPair(t)
	defer a.Close()
	defer b.Close()
	var sent bytes.Buffer
	rec := &recConn{Conn: a, w: &sent}
	done := make(chan bool, 1)
	go func() {
		ok, _ := prove(b, s, time.Second, func() bool { return true })
		done <- ok
	}()
	if err := Prove(rec, s, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if !<-done {
		t.Fatal("plugin side did not accept")
	}
	if bytes.Contains(sent.Bytes(), s[:]) || bytes.Contains(sent.Bytes(), []byte(s.Env())) {
		t.Error("the secret crossed the connection")
	}
}

type recConn struct {
	net.Conn
	w io.Writer
}

func (c *recConn) Write(p []byte) (int, error) { _, _ = c.w.Write(p); return c.Conn.Write(p) }
func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	_, _ = c.w.Write(p[:n])
	return n, err
}

func mustSecret(t *testing.T) Secret {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// errAny stands for any error in a table.
var errAny = errors.New("any error")
