package contract

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/internal/sidestream"
)

// peer is one side of one connection: what the clients and servers of the
// contracts dispensed on it share.
type peer struct {
	broker *plugin.MuxBroker
	sess   *rpcx.Session // the plugin's, which ends its calls at hang-up; nil on a host
	plugin bool          // this process is the plugin (Server), not the host (Client)
	side   *sidestream.Side
}

// Client is the caller's side of a contract object: what a contract's
// client type holds and calls through, one line per method (see New).
// A Client is safe for concurrent use.
type Client struct {
	d    *desc
	rpc  *rpc.Client
	peer *peer
	ids  rpcx.IDs
	rel  *releaser // what ends it, and the objects its methods return; nil: the connection
	// hook, on a host, turns the errors of calls to the dispensed object
	// that got no answer into errors wrapping host.ErrProcessExited. Not
	// for callbacks: their stream ends with their method, not the plugin.
	hook func(error) error

	released atomic.Bool
}

// Call calls method (a method of the contract's interface, by name) with
// args, the method's own arguments, a context.Context first when it takes
// one. It is for a method whose only result is an error, or none; Call1
// and Call2 are for one or two results besides the error.
//
// The error is the method's own (a *RemoteError), or the failure of the
// call itself: a wrong argument, a callback used after its method returned
// (ErrReleased), the end of the connection (on a host, an error wrapping
// host.ErrProcessExited), or the failure of the caller's own io.Reader or
// io.Writer argument when the method itself returned nil. A method whose
// interface has no error result cannot return that error: its client line
// decides what it returns instead (as shared.Command.Run returns 1).
func (c *Client) Call(method string, args ...any) error {
	return c.call(method, args, nil)
}

// Call1 is Call for a method with one result besides the error (or one
// result alone): it returns the result, the zero R when the call fails.
func Call1[R any](c *Client, method string, args ...any) (R, error) {
	var r R
	err := c.call(method, args, []any{&r})
	return r, err
}

// Call2 is Call for a method with two results besides the error.
func Call2[R1, R2 any](c *Client, method string, args ...any) (R1, R2, error) {
	var r1 R1
	var r2 R2
	err := c.call(method, args, []any{&r1, &r2})
	return r1, r2, err
}

func (c *Client) isReleased() bool { return c.released.Load() }

// release ends a callback client: its method has returned.
func (c *Client) release() {
	c.released.Store(true)
	_ = c.rpc.Close()
}

func (c *Client) call(name string, args []any, results []any) error {
	m := c.d.methods[name]
	if m == nil {
		return fmt.Errorf("contract: %s has no method %q", c.d.name, name)
	}
	ctx := context.Background()
	if m.hasCtx {
		if len(args) > 0 {
			ctx, _ = args[0].(context.Context)
		}
		if ctx == nil {
			return fmt.Errorf("%s: the first argument must be a non-nil context.Context", m.full)
		}
		args = args[1:]
	}
	if len(args) != len(m.in) {
		return fmt.Errorf("%s: called with %d arguments, the method takes %d", m.full, len(args), len(m.in))
	}
	if len(results) != len(m.out) {
		return fmt.Errorf("%s: called for %d results, the method has %d", m.full, len(results), len(m.out))
	}
	for i, r := range results {
		if t := reflect.TypeOf(r).Elem(); t != m.out[i].t {
			return fmt.Errorf("%s: called for result %d of type %v, the method returns %v", m.full, i+1, t, m.out[i].t)
		}
	}
	if c.isReleased() {
		return fmt.Errorf("%s: %w", m.full, ErrReleased)
	}
	a := rpcx.CallArgs{Method: name, Deadline: rpcx.Deadline(ctx)}
	var st callState
	var err error
	a.Args, err = c.encodeArgs(m, args, &a, &st)
	if err != nil {
		return err
	}
	st.start(c.peer)
	rp := new(reply)
	if len(m.out) > 0 {
		rp.Results = rp.small[:0]
	}
	r := &rp.CallReply
	a.CallID = c.ids.Next() // the server tracks every call by it
	if len(st.streams) > 0 {
		err = c.callStreams(ctx, &a, r, st.streams)
	} else if m.hasCtx {
		err = rpcx.Call(ctx, c.rpc, "Plugin.Call", a.CallID, a, r)
	} else {
		err = c.rpc.Call("Plugin.Call", a, r)
	}
	if err != nil {
		return c.failed(m, err)
	}
	// Results are returned with the method's error, as io.Copy's count is.
	derr := c.decodeResults(m, r.Results, results)
	if err := r.Err.ErrIn(c.d.sentinels); err != nil {
		return err
	}
	if err := st.streams.localErr(); err != nil {
		return fmt.Errorf("%s: %w", m.full, err)
	}
	return derr
}

// reply is a call's reply with room for small results: gob decodes them
// into it rather than into a slice it makes (three allocations).
type reply struct {
	rpcx.CallReply
	small [48]byte
}

// callStreams makes a call with streams: they stop when ctx ends, and
// the call returns once what the method wrote has reached the caller's
// writers.
func (c *Client) callStreams(ctx context.Context, a *rpcx.CallArgs, r *rpcx.CallReply, ss streams) error {
	stop := context.AfterFunc(ctx, ss.stop)
	err := rpcx.Call(ctx, c.rpc, "Plugin.Call", a.CallID, *a, r)
	if err == nil {
		ss.waitWriters(ctx)
	}
	stop()
	ss.stop()
	ss.waitWriters(context.Background()) // no Write to them after Call returns
	return err
}

// failed is the error of a call that got no answer.
func (c *Client) failed(m *method, err error) error {
	if errors.Is(err, rpc.ErrShutdown) && c.isReleased() {
		return fmt.Errorf("%s: %w", m.full, ErrReleased)
	}
	err = fmt.Errorf("%s: %w", m.full, err)
	if c.hook != nil && !rpcx.IsRemote(err) {
		err = c.hook(err)
	}
	return err
}

// callState is what a call offers the other side: callback objects and
// streams, started once the arguments are all encoded.
type callState struct {
	offers  []offer
	streams streams
}

// streams are a call's stream arguments.
type streams []*outStream

type offer struct {
	id  uint32
	srv *server
}

func (st *callState) start(p *peer) {
	for _, o := range st.offers {
		rpcx.OfferAs(p.broker, o.id, o.srv, o.srv.cancels.EndAll)
	}
	for _, s := range st.streams {
		s.start(p)
	}
}

func (ss streams) stop() {
	for _, s := range ss {
		s.stop()
	}
}

// waitWriters waits until what the method wrote to the caller's writers
// has been written to them, or ctx ends. A stream whose Dial never
// succeeded ends within MuxBroker's accept window.
func (ss streams) waitWriters(ctx context.Context) {
	for _, s := range ss {
		if s.w == nil {
			continue
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			return
		}
	}
}

func (ss streams) localErr() error {
	for _, s := range ss {
		if err := s.err(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) encodeArgs(m *method, args []any, a *rpcx.CallArgs, st *callState) ([]byte, error) {
	var enc encoder
	for i, p := range m.in {
		v, err := valueOf(m, i, p, args[i])
		if err != nil {
			return nil, err
		}
		switch p.kind {
		case kindCallback:
			var id uint32
			if !isNil(v) {
				srv, err := offerServer(c.peer, p.t, v)
				if err != nil {
					return nil, fmt.Errorf("%s: argument %d: %v", m.full, i+1, err)
				}
				id = rpcx.NewID(c.peer.broker)
				st.offers = append(st.offers, offer{id, srv})
				a.Conns = append(a.Conns, rpcx.ConnID{ID: id})
			}
			err = enc.id(id)
		case kindReader, kindWriter:
			var id uint32
			if !isNil(v) {
				id = rpcx.NewID(c.peer.broker)
				s := &outStream{id: id, sentinels: c.d.sentinels}
				if p.kind == kindReader {
					s.r = v.Interface().(interface{ Read([]byte) (int, error) })
				} else {
					s.w = v.Interface().(interface{ Write([]byte) (int, error) })
				}
				st.streams = append(st.streams, s)
				a.Conns = append(a.Conns, rpcx.ConnID{ID: id, Stream: true})
			}
			err = enc.id(id)
		default:
			err = enc.value(p, v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: argument %d: %w", m.full, i+1, err)
		}
	}
	return enc.finish(), nil
}

// offerServer returns the server for v, a callback argument or result of
// contract type t.
func offerServer(p *peer, t reflect.Type, v reflect.Value) (*server, error) {
	d := lookup(t)
	if d == nil {
		return nil, fmt.Errorf("%v is an interface but not a contract (make it one with contract.New)", t)
	}
	return newServer(d, v, p), nil
}

func (c *Client) decodeResults(m *method, b []byte, results []any) error {
	if len(m.out) == 0 {
		return nil
	}
	dec := newDecoder(b)
	for i, p := range m.out {
		dst := reflect.ValueOf(results[i]).Elem() // zero: Call1 and Call2 make it
		var err error
		if p.kind == kindCallback {
			var v reflect.Value
			if v, err = takeCallback(c.peer, p.t, &dec, c.rel); err == nil {
				dst.Set(v)
			}
		} else {
			err = dec.into(p, dst, c.d.decodeJSON)
		}
		if err != nil {
			dst.SetZero() // not half a value
			return fmt.Errorf("%s: result %d: %v", m.full, i+1, err)
		}
	}
	return nil
}

// takeCallback reads a callback's id and returns its client as a value of
// contract type t (nil for id 0). With rel, the client ends when rel is
// released; without, when the connection does.
func takeCallback(p *peer, t reflect.Type, dec *decoder, rel *releaser) (reflect.Value, error) {
	id, err := dec.id()
	if err != nil {
		return reflect.Value{}, err
	}
	if id == 0 {
		return reflect.Zero(t), nil
	}
	cl, err := rpcx.Take(p.broker, id)
	if err != nil {
		return reflect.Value{}, err
	}
	return clientValue(p, t, cl, rel, nil)
}

// clientValue makes the contract client for cl.
func clientValue(p *peer, t reflect.Type, cl *rpc.Client, rel *releaser, hook func(error) error) (reflect.Value, error) {
	d := lookup(t)
	if d == nil {
		_ = cl.Close()
		return reflect.Value{}, fmt.Errorf("%v is not a contract on this side", t)
	}
	c := &Client{d: d, rpc: cl, peer: p, rel: rel, hook: hook}
	if rel != nil {
		rel.add(c)
	}
	v := reflect.ValueOf(d.newClient(c))
	if !v.IsValid() || !v.Type().Implements(t) {
		return reflect.Value{}, fmt.Errorf("the client function of contract %s returned a %v, not a %v", d.name, v.Type(), t)
	}
	out := reflect.New(t).Elem()
	out.Set(v)
	return out, nil
}

// releaser ends the callback clients a method took when it returns.
type releaser struct {
	mu      sync.Mutex
	clients []*Client
}

func (r *releaser) add(c *Client) {
	r.mu.Lock()
	r.clients = append(r.clients, c)
	r.mu.Unlock()
}

func (r *releaser) release() {
	r.mu.Lock()
	cs := r.clients
	r.clients = nil
	r.mu.Unlock()
	for _, c := range cs {
		c.release()
	}
}
