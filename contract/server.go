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
	out := s.invoke(m, in, r)
	for _, st := range streams {
		st.end()
	}
	if out == nil {
		return nil // it panicked: r.Err says so
	}
	if m.hasErr {
		r.Err = rpcx.EncodeErrorIn(asError(out[len(out)-1]), s.d.sentinels)
		out = out[:len(out)-1]
	}
	r.Results, err = s.encodeResults(m, out)
	return err
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
	fn := s.impl.Method(m.index)
	if m.variadic {
		return fn.CallSlice(in)
	}
	return fn.Call(in)
}

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
		switch p.kind {
		case kindCallback, kindReader, kindWriter:
			var id uint32
			id, err = dec.id()
			if err != nil {
				break
			}
			v = reflect.Zero(p.t)
			if id == 0 {
				break
			}
			if p.kind == kindCallback {
				cl := t.clients[id]
				if cl == nil {
					err = fmt.Errorf("callback %d was not offered", id)
					break
				}
				delete(t.clients, id)
				v, err = clientValue(s.peer, p.t, cl, rel, nil)
				break
			}
			conn := t.conns[id]
			if conn == nil {
				err = fmt.Errorf("stream %d was not offered", id)
				break
			}
			delete(t.conns, id)
			st := newInStream(ctx, m, conn, s.d.sentinels, p.kind == kindWriter)
			streams = append(streams, st)
			v = reflect.New(p.t).Elem()
			v.Set(reflect.ValueOf(st))
		default:
			v, err = dec.value(p, s.d.decodeJSON)
		}
		if err != nil {
			return nil, streams, fmt.Errorf("%s: argument %d: %v", m.full, i+1, err)
		}
		args[i] = v
	}
	return in, streams, nil
}

func (s *server) encodeResults(m *method, out []reflect.Value) ([]byte, error) {
	if len(m.out) == 0 {
		return nil, nil
	}
	var enc encoder
	for i, p := range m.out {
		v := out[i]
		var err error
		if p.kind == kindCallback {
			var id uint32
			if !isNil(v) {
				srv := newServer(lookup(p.t), v, s.peer)
				if srv.d == nil {
					return nil, fmt.Errorf("%s: result %d: %v is not a contract", m.full, i+1, p.t)
				}
				id = rpcx.Offer(s.peer.broker, srv, srv.cancels.EndAll)
			}
			err = enc.id(id)
		} else {
			err = enc.value(p, v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: result %d: %w", m.full, i+1, err)
		}
	}
	return enc.finish(), nil
}
