package contract

import (
	"context"
	"fmt"
	"net"
	"net/rpc"
	"reflect"

	"github.com/plugwire/plugwire/internal/rpcx"
)

// server serves one contract object: every method, through one net/rpc
// method, Call, and Cancel for contexts.
type server struct {
	d       *desc
	impl    reflect.Value
	peer    *peer
	cancels rpcx.Cancels
	direct  []any // by method index: see directMethods
}

func newServer(d *desc, impl reflect.Value, p *peer) *server {
	s := &server{d: d, impl: impl, peer: p}
	if d != nil && impl.Type() != d.typ {
		// A method's index is its index in the interface: Method(i) of
		// the concrete value would index the concrete type's own method
		// set, in which an extra method (Close, Result) shifts the rest.
		iv := reflect.New(d.typ).Elem()
		iv.Set(impl)
		s.impl = iv
	}
	if d != nil {
		s.direct = directMethods(d, impl)
	}
	s.cancels.Session = p.sess
	return s
}

// SetSession makes the end of the plugin's connection cancel s's calls
// and those of the callbacks it offers.
func (s *server) SetSession(sess *rpcx.Session) {
	s.peer.sess = sess
	s.cancels.Session = sess
}

// Cancel cancels a running call (rpcx.Call).
func (s *server) Cancel(a rpcx.CancelArgs, _ *rpcx.Empty) error {
	s.cancels.Cancel(a)
	return nil
}

// taken are the streams a call's arguments use, taken before anything
// else so that none is left waiting on the caller's side.
type taken struct {
	conns   map[uint32]net.Conn
	clients map[uint32]*rpc.Client
}

func (t *taken) close() {
	for _, c := range t.conns {
		_ = c.Close()
	}
	for _, c := range t.clients {
		_ = c.Close()
	}
}

func (s *server) take(ids []rpcx.ConnID, t *taken) error {
	t.conns, t.clients = map[uint32]net.Conn{}, map[uint32]*rpc.Client{}
	var first error
	for _, c := range ids {
		if c.Stream {
			conn, err := s.peer.broker.Accept(c.ID)
			if err != nil {
				first = cmp(first, fmt.Errorf("accepting stream %d: %w", c.ID, err))
				continue
			}
			t.conns[c.ID] = s.peer.stream(conn)
			continue
		}
		cl, err := rpcx.Take(s.peer.broker, c.ID)
		if err != nil {
			first = cmp(first, err)
			continue
		}
		t.clients[c.ID] = cl
	}
	if first != nil {
		t.close()
	}
	return first
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Call runs one method of the contract.
func (s *server) Call(a rpcx.CallArgs, r *rpcx.CallReply) error {
	if m := s.d.methods[a.Method]; m != nil && m.plain && len(a.Conns) == 0 {
		return s.callPlain(m, a.Args, r)
	}
	return s.call(&a, r)
}

// callPlain is call for a method without a context, streams or
// callbacks, in smaller frames: net/rpc's goroutine has a small stack
// (see internal/direct).
func (s *server) callPlain(m *method, b []byte, r *rpcx.CallReply) error {
	s.cancels.Session.Begin()
	defer s.cancels.Session.Finish()
	in, err := s.decodePlain(m, b)
	if err != nil {
		return err
	}
	out := s.invoke(m, in, r)
	if out == nil {
		return nil // it panicked: r.Err says so
	}
	return s.reply(m, out, r)
}

func (s *server) decodePlain(m *method, b []byte) ([]reflect.Value, error) {
	dec := newDecoder(b)
	in := make([]reflect.Value, len(m.in))
	for i, p := range m.in {
		// decoder.value's cases, without its frame and into's.
		v := p.zero()
		var err error
		switch {
		case p.kind == kindJSON:
			err = dec.json(p, v, s.d.decodeJSON)
		case basic(p.t):
			err = dec.basic(v)
		default:
			err = dec.gobValue(p, v)
		}
		if err != nil {
			return nil, numbered(m, "argument", i, err)
		}
		in[i] = v
	}
	return in, nil
}

// reply puts what the method returned, out, into r.
func (s *server) reply(m *method, out []reflect.Value, r *rpcx.CallReply) (err error) {
	if m.hasErr {
		r.Err = rpcx.EncodeErrorIn(asError(out[len(out)-1]), s.d.sentinels)
		out = out[:len(out)-1]
	}
	r.Results, err = s.encodeResults(m, out)
	return err
}

func (s *server) call(a *rpcx.CallArgs, r *rpcx.CallReply) error {
	var t taken
	if len(a.Conns) > 0 {
		if err := s.take(a.Conns, &t); err != nil {
			return err
		}
	}
	m := s.d.methods[a.Method]
	if m == nil {
		t.close()
		return fmt.Errorf("%s has no method %q here: the two sides were built with different versions of the contract", s.d.name, a.Method)
	}
	var rel *releaser
	if m.callbacks {
		rel = &releaser{}
		defer rel.release()
	}
	// Only a method with a context or a stream has anything to cancel;
	// the session counts every call.
	var ctx context.Context
	if m.hasCtx || m.streams {
		c, done := s.cancels.Start(a.CallID, a.Deadline)
		defer done()
		ctx = c
	} else {
		s.cancels.Session.Begin()
		defer s.cancels.Session.Finish()
	}
	in, streams, err := s.decodeArgs(ctx, m, a.Args, &t, rel)
	if err != nil {
		t.close()
		for _, st := range streams {
			st.end()
		}
		return err
	}
	// What the arguments did not take (a caller built with a later
	// version of the contract) ends now, not with the connection: a
	// stream's side connection is a listener, then a TCP connection.
	t.close()
	out := s.invoke(m, in, r)
	for _, st := range streams {
		st.end()
	}
	if out == nil {
		return nil // it panicked: r.Err says so
	}
	return s.reply(m, out, r)
}

func asError(v reflect.Value) error {
	if v.IsNil() {
		return nil
	}
	return v.Interface().(error)
}

// invoke calls the method with in, its arguments (its context first
// when it takes one); it returns nil when the method panicked.
func (s *server) invoke(m *method, in []reflect.Value, r *rpcx.CallReply) (out []reflect.Value) {
	defer rpcx.Recover(m.full, &r.Err)
	if s.direct != nil && s.direct[m.index] != nil {
		return callDirect(s.direct[m.index], in)
	}
	fn := s.impl.Method(m.index)
	if m.variadic {
		return fn.CallSlice(in)
	}
	return fn.Call(in)
}

// decodeArgs, encodeResults and what they call for small values keep
// small frames, rare paths out of line: net/rpc's goroutine has a small
// stack (see internal/direct).
func (s *server) decodeArgs(ctx context.Context, m *method, b []byte, t *taken, rel *releaser) ([]reflect.Value, []*inStream, error) {
	dec := newDecoder(b)
	var in, args []reflect.Value // args: in without the context
	if m.hasCtx {
		in = make([]reflect.Value, 1+len(m.in))
		in[0], args = reflect.ValueOf(ctx), in[1:]
	} else {
		in = make([]reflect.Value, len(m.in))
		args = in
	}
	var streams []*inStream
	for i, p := range m.in {
		var v reflect.Value
		var err error
		if p.kind == kindCallback || p.kind == kindReader || p.kind == kindWriter {
			v, err = s.takeArg(ctx, m, p, &dec, t, rel, &streams)
		} else {
			v, err = dec.value(p, s.d.decodeJSON)
		}
		if err != nil {
			return nil, streams, numbered(m, "argument", i, err)
		}
		args[i] = v
	}
	return in, streams, nil
}

// takeArg reads a callback or stream argument and returns what the method
// gets for it; a stream it adds to streams.
func (s *server) takeArg(ctx context.Context, m *method, p param, dec *decoder, t *taken, rel *releaser, streams *[]*inStream) (reflect.Value, error) {
	id, err := dec.id()
	if err != nil || id == 0 {
		return reflect.Zero(p.t), err
	}
	if p.kind == kindCallback {
		cl := t.clients[id]
		if cl == nil {
			return reflect.Value{}, fmt.Errorf("callback %d was not offered", id)
		}
		delete(t.clients, id)
		return clientValue(s.peer, p.t, cl, rel, nil)
	}
	conn := t.conns[id]
	if conn == nil {
		return reflect.Value{}, fmt.Errorf("stream %d was not offered", id)
	}
	delete(t.conns, id)
	st := newInStream(ctx, m, conn, s.d.sentinels, p.kind == kindWriter)
	*streams = append(*streams, st)
	v := reflect.New(p.t).Elem()
	v.Set(reflect.ValueOf(st))
	return v, nil
}

// numbered is err for argument or result i of m; out of line, as fmt's
// arguments would widen its callers' frames.
//
//go:noinline
func numbered(m *method, what string, i int, err error) error {
	if what == "argument" {
		return fmt.Errorf("%s: %s %d: %v", m.full, what, i+1, err)
	}
	return fmt.Errorf("%s: %s %d: %w", m.full, what, i+1, err)
}

func (s *server) encodeResults(m *method, out []reflect.Value) ([]byte, error) {
	if len(m.out) == 0 {
		return nil, nil
	}
	var enc encoder
	for i, p := range m.out {
		var err error
		if p.kind == kindCallback {
			err = s.offerResult(&enc, p, out[i])
		} else {
			err = enc.value(p, out[i])
		}
		if err != nil {
			return nil, numbered(m, "result", i, err)
		}
	}
	return enc.finish(), nil
}

// offerResult offers v, a callback result, and writes its id.
func (s *server) offerResult(enc *encoder, p param, v reflect.Value) error {
	var id uint32
	if !isNil(v) {
		srv := newServer(lookup(p.t), v, s.peer)
		if srv.d == nil {
			return fmt.Errorf("%v is not a contract", p.t)
		}
		id = rpcx.Offer(s.peer.broker, srv, srv.cancels.EndAll)
	}
	return enc.id(id)
}
