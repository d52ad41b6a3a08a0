package wire

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPendingCheck: SendHello sends the hello at once; Check reads the
// plugin's answer, exactly its bytes, and names what is wrong with it.
func TestPendingCheck(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		answer  func(hello []byte) []byte // nil: no answer at all
		wantErr error                     // nil: want success
		wantMsg string
	}{
		{"good", func(h []byte) []byte { return Reply(ProtocolVersion, statusOK, s, h) }, nil, ""},
		{"wrong secret", func(h []byte) []byte { return Reply(ProtocolVersion, statusOK, other, h) }, ErrHandshake, "not the plugin this host started"},
		{"other version", func(h []byte) []byte { return Reply(7, statusVersionMismatch, s, h) }, ErrVersionMismatch, "plugin speaks plugwire protocol 7"},
		{"not plugwire", func([]byte) []byte { return []byte(strings.Repeat("HTTP/1.1 ", 5)) }, nil, "not a plugwire plugin"},
		{"unknown status", func(h []byte) []byte { return Reply(ProtocolVersion, 9, s, h) }, nil, "unknown status 9"},
		{"silent", nil, os.ErrDeadlineExceeded, "closed the connection during the handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, plugin := net.Pipe()
			defer host.Close()
			defer plugin.Close()
			trailer := []byte("yamux frames")
			go func() {
				hello := make([]byte, helloSize)
				if _, err := io.ReadFull(plugin, hello); err != nil {
					return
				}
				if tc.answer != nil {
					_, _ = plugin.Write(append(tc.answer(hello), trailer...))
				}
			}()
			p, err := SendHello(host, s, time.Now().Add(200*time.Millisecond))
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
			wantOK := tc.wantErr == nil && tc.wantMsg == ""
			switch {
			case wantOK && err != nil:
				t.Fatalf("Check() = %v, want success", err)
			case !wantOK && err == nil:
				t.Fatal("Check() succeeded, want an error")
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Check() = %v, want it to wrap %v", err, tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), tc.wantMsg):
				t.Errorf("Check() = %v, want it to say %q", err, tc.wantMsg)
			}
			if wantOK {
				got := make([]byte, len(trailer))
				if _, err := io.ReadFull(host, got); err != nil || string(got) != string(trailer) {
					t.Errorf("after Check the connection reads %q, %v; want %q", got, err, trailer)
				}
			}
		})
	}
}
