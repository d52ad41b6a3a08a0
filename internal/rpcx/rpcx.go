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
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Error kinds, so that errors.Is keeps working across the process boundary
// for the errors a context produces.
const (
	kindPlain    = 0
	kindCanceled = 1
	kindDeadline = 2
)

// Error is an error as it crosses the wire. A nil *Error is no error, so an
// error whose text is empty still arrives as an error (net/rpc alone would
// turn it into success).
type Error struct {
	Msg  string
	Kind uint8
}

// EncodeError turns err into its wire form; nil stays nil.
func EncodeError(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Msg: err.Error()}
	switch {
	case errors.Is(err, context.Canceled):
		e.Kind = kindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind = kindDeadline
	}
	return e
}

// Err returns the error e stands for, with the same text; nil for nil.
func (e *Error) Err() error {
	if e == nil {
		return nil
	}
	r := &remoteError{msg: e.Msg}
	switch e.Kind {
	case kindCanceled:
		r.is = context.Canceled
	case kindDeadline:
		r.is = context.DeadlineExceeded
	}
	return r
}

// remoteError is an error returned by the other side.
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }

// Canceler is implemented by the client side of every contract whose
// methods take a context: Cancel is the RPC method the other side serves.
const cancelMethod = "Plugin.Cancel"

// Call makes the net/rpc call method(args, reply) on c and honours ctx: when
// ctx is done first, it asks the server to cancel call id and then waits
// for the method to return, as a local call would.
func Call(ctx context.Context, c *rpc.Client, method string, id uint64, args, reply interface{}) error {
	call := c.Go(method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		return call.Error
	case <-ctx.Done():
	}
	c.Go(cancelMethod, id, new(struct{}), make(chan *rpc.Call, 1))
	<-call.Done
	return call.Error
}

// IDs hands out call identifiers for Call; the zero value is ready.
type IDs struct{ n atomic.Uint64 }

// Next returns a fresh call identifier.
func (i *IDs) Next() uint64 { return i.n.Add(1) }

// Cancels is the server side of Call: it gives each call a context and
// cancels it when the client asks, or when the connection ends. The zero
// value is ready.
type Cancels struct {
	mu    sync.Mutex
	live  map[uint64]context.CancelFunc
	early map[uint64]time.Time // cancels that arrived before their call
	ended bool
}

// earlyCancelTTL is how long a cancel that found no live call is kept
// for its call to start: longer than MuxBroker's 5 s accept window.
const earlyCancelTTL = 30 * time.Second

// Start returns the context for call id and a function to call when the
// method returns.
func (c *Cancels) Start(id uint64) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.early[id]; ok || c.ended {
		delete(c.early, id)
		cancel()
		return ctx, cancel
	}
	if c.live == nil {
		c.live = make(map[uint64]context.CancelFunc)
	}
	c.live[id] = cancel
	return ctx, func() {
		c.mu.Lock()
		delete(c.live, id)
		c.mu.Unlock()
		cancel()
	}
}

// Cancel cancels call id, or records the cancel for a call not yet started.
func (c *Cancels) Cancel(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cancel, ok := c.live[id]; ok {
		cancel()
		return
	}
	// A cancel can also arrive after its call returned; forget such
	// records once no call can still be on its way.
	now := time.Now()
	for k, at := range c.early {
		if now.Sub(at) > earlyCancelTTL {
			delete(c.early, k)
		}
	}
	if c.early == nil {
		c.early = make(map[uint64]time.Time)
	}
	c.early[id] = now
}

// EndAll cancels every live call and every later one: the connection that
// carried them is gone.
func (c *Cancels) EndAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	for _, cancel := range c.live {
		cancel()
	}
}

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
func Offer(b *plugin.MuxBroker, v interface{}, onEnd func()) uint32 {
	if v == nil {
		return 0
	}
	id := b.NextId() | offerIDBit
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
	return id
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

// Recover turns a panic in the method named by method into an error in
// *errp, and writes the panic value and stack as an hclog JSON entry on
// stderr, which a plugwire host forwards into its log.
func Recover(method string, errp *error) {
	r := recover()
	if r == nil {
		return
	}
	*errp = fmt.Errorf("panic in %s: %v", method, r)
	hclog.New(&hclog.LoggerOptions{
		Name:       "plugwire",
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      hclog.Trace,
	}).Error("panic in "+method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// IsRemote reports whether err was returned by the other side's method.
func IsRemote(err error) bool {
	var r *remoteError
	return errors.As(err, &r)
}
