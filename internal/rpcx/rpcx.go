// Package rpcx holds what plugwire's contracts need on top of go-plugin's
// net/rpc protocol, once for both sides: errors that cross with their exact
// text, contexts whose cancellation crosses, and callback objects served on
// MuxBroker streams of the one connection.
package rpcx

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Error kinds, so that errors.Is keeps working across the process boundary
// for the errors a context produces and for a panic.
const (
	kindPlain    = 0
	kindCanceled = 1
	kindDeadline = 2
	kindPanic    = 3
)

// ErrPanic is wrapped by the error a call returns when the method it
// called on the other side panicked. shared.ErrPanic is this error.
var ErrPanic = errors.New("the other side's method panicked")

// Error is an error as it crosses the wire. A nil *Error is no error, so an
// error whose text is empty still arrives as an error (net/rpc alone would
// turn it into success).
type Error struct {
	Msg  string
	Kind uint8
	// Is holds the texts of the sentinels of the method's contract that
	// err matched with errors.Is (see EncodeErrorIn).
	Is []string
}

// EncodeError turns err into its wire form; nil stays nil.
func EncodeError(err error) *Error {
	return EncodeErrorIn(err, nil)
}

// EncodeErrorIn is EncodeError for a contract whose sentinel errors are
// sentinels: the ones err matches cross by their text, so that ErrIn on
// the other side makes errors.Is hold for the same sentinels there.
func EncodeErrorIn(err error, sentinels []error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Msg: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			e.Is = append(e.Is, s.Error())
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		e.Kind = kindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind = kindDeadline
	case errors.Is(err, ErrPanic):
		e.Kind = kindPanic
	}
	return e
}

// Err returns the error e stands for, with the same text; nil for nil.
// It is a value the other side returned, whatever its text: IsRemote holds
// for it, and errors.Is matches only what its kind says (a context's error
// or ErrPanic), never a transport error such as io.EOF.
func (e *Error) Err() error {
	return e.ErrIn(nil)
}

// ErrIn is Err for a contract whose sentinel errors are sentinels: the
// error also wraps those of them whose text e.Is names.
func (e *Error) ErrIn(sentinels []error) error {
	if e == nil {
		return nil
	}
	r := &RemoteError{msg: e.Msg}
	switch e.Kind {
	case kindCanceled:
		r.is = append(r.is, context.Canceled)
	case kindDeadline:
		r.is = append(r.is, context.DeadlineExceeded)
	case kindPanic:
		r.is = append(r.is, ErrPanic)
	}
	for _, text := range e.Is {
		for _, s := range sentinels {
			if s.Error() == text {
				r.is = append(r.is, s)
				break
			}
		}
	}
	return r
}

// RemoteError is an error the other side returned: a value, whatever it
// says or wraps, never a failure of the connection. Its text is the
// original's; errors.Is holds for context.Canceled, DeadlineExceeded,
// ErrPanic and the contract's sentinels when it held where it was made.
type RemoteError struct {
	msg string
	is  []error
}

// Error returns the text of the error as the other side made it.
func (e *RemoteError) Error() string { return e.msg }

// Unwrap returns the well-known errors e stands for.
func (e *RemoteError) Unwrap() []error { return e.is }

// IsRemote reports whether err is, or wraps, an error the other side
// returned: from a method's result (remoteError) or from net/rpc's server
// (rpc.ServerError, which plugwire's servers return only for their own
// failures, such as a callback stream that never came). Such an error says
// nothing about the connection, whatever it wraps or says.
func IsRemote(err error) bool {
	var r *RemoteError
	var s rpc.ServerError
	return errors.As(err, &r) || errors.As(err, &s)
}

// cancelMethod is the RPC method every contract whose methods take a
// context serves for Call.
const cancelMethod = "Plugin.Cancel"

// Call makes the net/rpc call method(args, reply) on c and honours ctx: when
// ctx is done first, it asks the server to cancel call id (saying whether
// ctx's deadline passed) and then waits for the method to return, as a
// local call would. The caller puts ctx's deadline in args (see Deadline).
func Call(ctx context.Context, c *rpc.Client, method string, id uint64, args, reply any) error {
	call := c.Go(method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		return call.Error
	case <-ctx.Done():
	}
	a := CancelArgs{CallID: id, Deadline: errors.Is(ctx.Err(), context.DeadlineExceeded)}
	c.Go(cancelMethod, a, new(Empty), make(chan *rpc.Call, 1))
	<-call.Done
	return call.Error
}

// Deadline returns ctx's deadline, or the zero time when it has none: the
// Deadline field of a call's arguments.
func Deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// IDs hands out call identifiers for Call; the zero value is ready.
type IDs struct{ n atomic.Uint64 }

// Next returns a fresh call identifier.
func (i *IDs) Next() uint64 { return i.n.Add(1) }

// offerIDBit is set in the id of every offered callback stream. The side
// that takes a callback accepts its stream on its own MuxBroker, which keys
// pending streams by id and also holds the streams of the objects it
// dispensed, numbered by its own counter, while offered ids come from the
// other side's counter. Without a separate id space the two collide: the
// callback stream is lost (the call fails after MuxBroker's 5 s accept
// timeout) or MuxBroker.Accept panics closing a closed channel.
const offerIDBit = 1 << 31

// Offer serves v as a callback object for the other side on a new stream of
// b and returns the id to send; the other side calls Take with it when its
// method starts. A nil v is sent as id 0 and arrives as nil. The stream is
// served until the other side closes it or the connection ends.
func Offer(b *plugin.MuxBroker, v any, onEnd func()) uint32 {
	if v == nil {
		return 0
	}
	id := NewID(b)
	OfferAs(b, id, v, onEnd)
	return id
}

// NewID returns a fresh id for a stream this side offers (OfferAs, Dial).
func NewID(b *plugin.MuxBroker) uint32 { return b.NextId() | offerIDBit }

// OfferAs is Offer under an id from NewID.
func OfferAs(b *plugin.MuxBroker, id uint32, v any, onEnd func()) {
	go func() {
		if onEnd != nil {
			defer onEnd()
		}
		conn, err := b.Dial(id)
		if err != nil {
			return // the connection ended, or the other side never took it
		}
		srv := rpc.NewServer()
		if err := srv.RegisterName("Plugin", v); err != nil {
			_ = conn.Close()
			return
		}
		srv.ServeConn(conn)
	}()
}

// Take accepts the stream the other side offered as id and returns a net/rpc
// client for it, or nil for id 0. Close the client when done with it.
func Take(b *plugin.MuxBroker, id uint32) (*rpc.Client, error) {
	if id == 0 {
		return nil, nil
	}
	conn, err := b.Accept(id)
	if err != nil {
		return nil, fmt.Errorf("accepting callback stream %d: %w", id, err)
	}
	return rpc.NewClient(conn), nil
}

// Recover turns a panic in the method named by method into an error
// wrapping ErrPanic in *errp, the Err of the method's reply, whose text
// keeps the panic value; it writes the value and the stack as an hclog JSON
// entry on stderr, which a plugwire host forwards into its log. It must be
// deferred directly.
func Recover(method string, errp **Error) {
	r := recover()
	if r == nil {
		return
	}
	*errp = &Error{Msg: fmt.Sprintf("panic in %s: %v", method, r), Kind: kindPanic}
	Logger().Error("panic in "+method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// Logger returns the logger plugwire's own code uses in a process: hclog
// JSON entries on stderr, which a plugwire host forwards into its log with
// their level.
func Logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugwire",
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      hclog.Trace,
	})
}

// HookedPlugin is a plugin.Plugin (package contract's) whose clients pass
// the error of every call that failed without an answer through hook: a
// host turns those into errors wrapping its ErrProcessExited.
type HookedPlugin interface {
	ClientWithHook(b *plugin.MuxBroker, c *rpc.Client, hook func(error) error) (any, error)
}
