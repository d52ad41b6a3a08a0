package wire

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// FuzzPluginSide sends arbitrary bytes to the plugin's side of the
// preamble, as a local process on the port may. It must never panic or
// accept, and must send nothing but its greeting.
func FuzzPluginSide(f *testing.F) {
	f.Add([]byte{})
	f.Add(Intro(ProtocolVersion))
	f.Add(append(Intro(ProtocolVersion), make([]byte, ProofSize)...))
	f.Add(Intro(ProtocolVersion + 1))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	s, err := NewSecret()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hostEnd, plug := testutil.TCPPair(t)
		defer hostEnd.Close()
		defer plug.Close()
		go func() { _, _ = hostEnd.Write(data) }()
		ok, _ := prove(plug, s, 50*time.Millisecond, func() bool { return true })
		if ok {
			t.Fatalf("prove accepted %q", data)
		}
		_ = plug.Close()
		_ = hostEnd.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(hostEnd)
		if len(got) != GreetingSize || !bytes.HasPrefix(got, Intro(ProtocolVersion)) {
			t.Fatalf("an unproven peer received %q, want only the greeting", got)
		}
	})
}

// FuzzHostSide answers the host's side of the preamble with arbitrary
// bytes, as whatever took the port may. It must never panic or succeed,
// and its error is one line.
func FuzzHostSide(f *testing.F) {
	g, err := Greeting(ProtocolVersion)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add(g)
	f.Add(append(g, make([]byte, AnswerSize)...))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	s, err := NewSecret()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hostEnd, plug := testutil.TCPPair(t)
		defer hostEnd.Close()
		defer plug.Close()
		go func() {
			_, _ = plug.Write(data)
			_ = plug.(interface{ CloseWrite() error }).CloseWrite()
		}()
		err := Prove(hostEnd, s, time.Now().Add(2*time.Second))
		if err == nil {
			t.Fatalf("Prove accepted %q", data)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %q spans lines", err)
		}
	})
}
