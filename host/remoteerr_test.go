package host_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"syscall"
	"testing"

	"github.com/hashicorp/yamux"
	"github.com/plugwire/plugwire/host"
)

// remoteErrors are errors a plugin method returns on purpose (action
// "err:NAME"): each looks like a transport failure by what it wraps or
// says, and is a value all the same.
var remoteErrors = map[string]error{
	"err:deadline":      fmt.Errorf("ssh: dial 10.0.0.7:22: %w", context.DeadlineExceeded),
	"err:canceled":      fmt.Errorf("upload: %w", context.Canceled),
	"err:neterror":      &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}},
	"err:dnstimeout":    &net.DNSError{Err: "i/o timeout", Name: "cloud.example", IsTimeout: true},
	"err:eof":           io.EOF,
	"err:unexpectedeof": io.ErrUnexpectedEOF,
	"err:shutdown":      rpc.ErrShutdown,
	"err:session":       yamux.ErrSessionShutdown,
	"err:reset":         fmt.Errorf("read tcp 10.0.0.7:443: %w", syscall.ECONNRESET),
	"err:pipe":          errors.New("write |1: broken pipe"),
	"err:closed":        net.ErrClosed,
}

// An error the plugin returns is a value, whatever it wraps or says: the
// call returns it with its text, errors.Is holds for the context errors it
// wrapped, it is not mistaken for a dead connection (no ErrProcessExited),
// and the plugin keeps serving.
func TestRemoteErrorsAreValues(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	b, err := p.Builder()
	if err != nil {
		t.Fatal(err)
	}
	for name, sent := range remoteErrors {
		for _, method := range []string{"prepare", "run"} {
			t.Run(name+"/"+method, func(t *testing.T) {
				err := b.Prepare(map[string]any{method: name})
				if method == "run" {
					if err != nil {
						t.Fatalf("Prepare: %v", err)
					}
					err = b.Run(context.Background(), nil, nil)
				}
				if err == nil || err.Error() != sent.Error() {
					t.Fatalf("error %v, want the plugin's %q", err, sent)
				}
				if errors.Is(err, host.ErrProcessExited) {
					t.Errorf("error %q wraps ErrProcessExited", err)
				}
				for _, ctxErr := range []error{context.DeadlineExceeded, context.Canceled} {
					if got, want := errors.Is(err, ctxErr), errors.Is(sent, ctxErr); got != want {
						t.Errorf("errors.Is(err, %v) = %v, want %v", ctxErr, got, want)
					}
				}
				for _, transport := range []error{io.EOF, io.ErrUnexpectedEOF, rpc.ErrShutdown, yamux.ErrSessionShutdown, net.ErrClosed} {
					if errors.Is(err, transport) {
						t.Errorf("errors.Is(err, %v) holds for an error the plugin returned", transport)
					}
				}
				if p.Exited() {
					t.Fatal("the plugin exited")
				}
			})
		}
	}
	if err := b.Prepare(map[string]any{}); err != nil {
		t.Errorf("Prepare after all the errors: %v", err)
	}
	if p.Exited() {
		t.Error("the plugin exited")
	}
}
