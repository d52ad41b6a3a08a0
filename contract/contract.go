package contract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/internal/rpcx"
)

// Errors that Call returns for a call that could not be made.
var (
	// ErrReleased is wrapped by the error of a call on a callback object
	// after the method it was passed to has returned: callbacks live as
	// long as that method.
	ErrReleased = errors.New("callback used after the method it was passed to returned")

	// ErrEncoding is wrapped by the error of a call whose argument (or a
	// method whose result) cannot cross the wire: gob or JSON refused it.
	ErrEncoding = errors.New("value cannot cross the wire")

	// ErrPanic is wrapped by the error a call returns when the method it
	// called on the other side panicked (shared.ErrPanic is this error).
	// The error's text keeps the panic value ("panic in Builder.Run:
	// ..."); the stack goes to the log of the side that panicked (for a
	// plugin, its stderr, which the host forwards). The plugin lives on.
	ErrPanic = rpcx.ErrPanic
)

// IsRemote reports whether err is, or wraps, an error the other side
// returned (a *RemoteError, or net/rpc's report of a call the other side
// refused), rather than a failure of the call or the connection.
func IsRemote(err error) bool { return rpcx.IsRemote(err) }

// Logger returns the logger plugwire writes its own entries with in this
// process: hclog JSON on stderr, which a plugwire host forwards into its
// own log, level included.
func Logger() hclog.Logger { return rpcx.Logger() }

// RemoteError is the type of every error the other side's method
// returned, told by type from a failure of the connection (which a host
// reports as an error wrapping host.ErrProcessExited): it keeps the text,
// and errors.Is holds for context.Canceled, context.DeadlineExceeded,
// shared.ErrPanic and the contract's own sentinel errors (see Errors) when
// it held where the error was made.
type RemoteError = rpcx.RemoteError

// Contract is the interface T as it crosses the wire: made once by New in
// the package that declares T, and used by both sides (Plugin, Dispense).
type Contract[T any] struct {
	d *desc
}

// Option configures a Contract: Errors, DecodeJSON.
type Option struct{ apply func(*desc) }

// Errors declares the contract's own sentinel errors: an error a method
// returns that matches one of them (errors.Is) matches the same sentinel
// on the caller's side. They are told apart by their text, which must be
// unique among them.
func Errors(sentinels ...error) Option {
	return Option{func(d *desc) { d.sentinels = append(d.sentinels, sentinels...) }}
}

// DecodeJSON sets how the contract's values that cross as JSON are
// decoded (into v, a pointer to the parameter's type); by default with
// json.Unmarshal.
func DecodeJSON(decode func(data []byte, v any) error) Option {
	return Option{func(d *desc) {
		if decode != nil {
			d.decodeJSON = decode
		}
	}}
}

// New returns the Contract of T, which must be an interface, and registers
// it, so that a parameter of type T in any contract's method crosses as a
// callback object. client returns T's client: a type whose methods are one
// line each, a call through c (Client.Call, Call1, Call2).
//
// A method's parameters and results may be of any type encoding/gob
// encodes, with these exceptions: a context.Context as first parameter
// crosses as cancellation and deadline; an error as last result crosses as
// a RemoteError; an io.Reader or io.Writer parameter crosses as a byte
// stream; a parameter or result whose type is a registered contract
// interface crosses as a callback object; a type that is or contains an
// interface (any, map[string]any) crosses as its JSON encoding. New panics
// for what can never cross (a chan or func parameter, a context.Context
// elsewhere than first, a stream result, two contracts for one T): a
// programming error, found when the package is loaded.
func New[T any](client func(c *Client) T, opts ...Option) *Contract[T] {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Interface {
		panic(fmt.Sprintf("contract.New: %v is not an interface", t))
	}
	if client == nil {
		panic(fmt.Sprintf("contract.New[%v]: client is nil", t))
	}
	d := &desc{typ: t, name: t.Name(), methods: map[string]*method{}}
	if d.name == "" {
		d.name = t.String()
	}
	d.newClient = func(c *Client) any { return client(c) }
	for _, o := range opts {
		if o.apply != nil {
			o.apply(d)
		}
	}
	seen := map[string]bool{}
	for _, s := range d.sentinels {
		if s == nil || seen[s.Error()] {
			panic(fmt.Sprintf("contract.New[%v]: sentinel errors must be non-nil with distinct texts", t))
		}
		seen[s.Error()] = true
	}
	for i := range t.NumMethod() {
		m, err := newMethod(d.name, t.Method(i), i)
		if err != nil {
			panic("contract.New: " + err.Error())
		}
		d.methods[m.name] = m
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[t]; dup {
		panic(fmt.Sprintf("contract.New: %v has a contract already", t))
	}
	registry.m[t] = d
	return &Contract[T]{d: d}
}

// Name returns the name of the contract's interface ("Communicator").
func (c *Contract[T]) Name() string { return c.d.name }

// registry holds every contract by its interface type.
var registry = struct {
	sync.Mutex
	m map[reflect.Type]*desc
}{m: map[reflect.Type]*desc{}}

func lookup(t reflect.Type) *desc {
	registry.Lock()
	defer registry.Unlock()
	return registry.m[t]
}

// desc is a contract: its interface and methods.
type desc struct {
	typ        reflect.Type
	name       string
	methods    map[string]*method
	sentinels  []error
	newClient  func(*Client) any
	decodeJSON func([]byte, any) error // nil: json.Unmarshal
}

// method is one method of a contract.
type method struct {
	name, full string // "Upload", "Communicator.Upload"
	index      int    // in the interface type
	hasCtx     bool
	hasErr     bool
	variadic   bool
	in         []param // without the context
	out        []param // without the error
	// streams: a parameter is an io.Reader or io.Writer; callbacks: one
	// is a contract. A call without a context and without streams needs
	// no cancellation, one without callbacks no releaser.
	streams, callbacks bool
	plain              bool // none of the three: server.callPlain
}

// kind is how a parameter or result crosses.
type kind uint8

const (
	kindGob      kind = iota // encoding/gob
	kindJSON                 // a type holding interfaces: encoding/json
	kindCallback             // a contract interface: a callback object
	kindReader               // io.Reader: a byte stream to the method
	kindWriter               // io.Writer: a byte stream from the method
)

type param struct {
	t    reflect.Type
	kind kind
	// alloc makes a settable zero value of t, for the common types
	// (allocs); nil: reflect.New.
	alloc func() reflect.Value
}

var (
	ctxType    = reflect.TypeFor[context.Context]()
	errType    = reflect.TypeFor[error]()
	readerType = reflect.TypeFor[io.Reader]()
	writerType = reflect.TypeFor[io.Writer]()
)

func newMethod(iface string, rm reflect.Method, index int) (*method, error) {
	ft := rm.Type
	m := &method{name: rm.Name, full: iface + "." + rm.Name, index: index, variadic: ft.IsVariadic()}
	for i := range ft.NumIn() {
		t := ft.In(i)
		if t == ctxType {
			if i != 0 {
				return nil, fmt.Errorf("%s: a context.Context must be the first parameter", m.full)
			}
			m.hasCtx = true
			continue
		}
		p, err := newParam(t, asParameter)
		if err != nil {
			return nil, fmt.Errorf("%s: parameter %d: %v", m.full, i+1, err)
		}
		m.in = append(m.in, p)
		m.streams = m.streams || p.kind == kindReader || p.kind == kindWriter
		m.callbacks = m.callbacks || p.kind == kindCallback
	}
	m.plain = !m.hasCtx && !m.streams && !m.callbacks
	for i := range ft.NumOut() {
		t := ft.Out(i)
		if t == errType && i == ft.NumOut()-1 {
			m.hasErr = true
			continue
		}
		p, err := newParam(t, asResult)
		if err != nil {
			return nil, fmt.Errorf("%s: result %d: %v", m.full, i+1, err)
		}
		m.out = append(m.out, p)
	}
	return m, nil
}

// position says where a type stands in a method's signature.
type position int

const (
	asParameter position = iota
	asResult
)

// newParam returns how a value of type t, standing at pos, crosses.
func newParam(t reflect.Type, pos position) (param, error) {
	switch {
	case t == readerType || t == writerType:
		if pos == asResult {
			return param{}, fmt.Errorf("%v cannot be a result (pass an io.Writer or io.Reader in instead)", t)
		}
		if t == readerType {
			return param{t: t, kind: kindReader}, nil
		}
		return param{t: t, kind: kindWriter}, nil
	case t == ctxType:
		return param{}, fmt.Errorf("%v is allowed only as the first parameter", t)
	case t == errType:
		return param{}, fmt.Errorf("%v is allowed only as the last result", t)
	case t.Kind() == reflect.Interface && t.NumMethod() > 0:
		return param{t: t, kind: kindCallback}, nil // checked to be a contract at the call
	}
	if bad := cannotCross(t, map[reflect.Type]bool{}); bad != nil {
		return param{}, fmt.Errorf("%v cannot cross the wire (it holds a %v)", t, bad)
	}
	if holdsInterface(t, map[reflect.Type]bool{}) {
		return param{t: t, kind: kindJSON, alloc: allocs[t]}, nil
	}
	return param{t: t, kind: kindGob, alloc: allocs[t]}, nil
}

// cannotCross returns the type within t that neither gob nor JSON encodes.
func cannotCross(t reflect.Type, seen map[reflect.Type]bool) reflect.Type {
	if seen[t] {
		return nil
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return t
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return cannotCross(t.Elem(), seen)
	case reflect.Map:
		if b := cannotCross(t.Key(), seen); b != nil {
			return b
		}
		return cannotCross(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				if b := cannotCross(f.Type, seen); b != nil {
					return b
				}
			}
		}
	}
	return nil
}

// holdsInterface reports whether t is or contains an interface type, which
// gob encodes only for registered concrete types: such values cross as
// JSON instead.
func holdsInterface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsInterface(t.Elem(), seen)
	case reflect.Map:
		return holdsInterface(t.Key(), seen) || holdsInterface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsInterface(f.Type, seen) {
				return true
			}
		}
	}
	return false
}
