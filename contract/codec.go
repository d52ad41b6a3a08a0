package contract

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/plugwire/plugwire/internal/wire"
)

// A call's arguments (and a method's results) cross as one byte slice: a
// head, then, when any value needs it, one gob stream. In the head, per
// value, in order: a stream id (callbacks and byte streams, 0 for nil); a
// value of a basic kind (bool, integers, floats, string, []byte) in a
// fixed binary form; the JSON encoding of a type holding interfaces; or,
// for anything else, a nil flag (pointers, slices and maps, so that nil
// stays nil and empty stays empty) whose value, unless nil, is the next
// one of the gob stream. Small calls, the common case, never pay for
// gob's per-stream type descriptions.

var errShort = errors.New("encoded values cut short")

// valueOf returns arg as a value of p's type, or an error naming it.
func valueOf(m *method, i int, p param, arg any) (reflect.Value, error) {
	if arg == nil {
		switch p.t.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Slice, reflect.Map:
			return reflect.Zero(p.t), nil
		}
		return reflect.Value{}, fmt.Errorf("%s: argument %d is nil, want type %v", m.full, i+1, p.t)
	}
	v := reflect.ValueOf(arg)
	if !v.Type().AssignableTo(p.t) {
		return reflect.Value{}, fmt.Errorf("%s: argument %d has type %v, want %v", m.full, i+1, v.Type(), p.t)
	}
	return v, nil
}

func nilable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return true
	}
	return false
}

// isNil reports whether v, of a nil-able kind, is nil.
func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer, reflect.Slice, reflect.Map:
		return v.IsNil()
	}
	return false
}

// basic reports whether values of t cross in the head's binary form.
func basic(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8
	}
	return false
}

// encoder encodes values; its zero value is ready.
type encoder struct {
	// head starts with room for its own length, which finish writes
	// there when it fits in a byte: small values then cost one
	// allocation.
	head []byte
	gobs *bytes.Buffer
	gob  *gob.Encoder
}

// lenRoom is the room head keeps for its length; headCap its first size.
const (
	lenRoom = 1
	headCap = 64
)

func (e *encoder) start() {
	if e.head == nil {
		e.head = make([]byte, lenRoom, headCap)
	}
}

func (e *encoder) bytes(b []byte) {
	e.start()
	e.head = binary.AppendUvarint(e.head, uint64(len(b)))
	e.head = append(e.head, b...)
}

func (e *encoder) id(id uint32) error {
	e.start()
	e.head = binary.AppendUvarint(e.head, uint64(id))
	return nil
}

// value writes v, of a value kind (gob or JSON). It and what it calls for
// basic kinds keep small frames: a call's server runs on a goroutine whose
// stack a deeper one would grow (see internal/direct).
func (e *encoder) value(p param, v reflect.Value) error {
	if p.kind == kindJSON {
		return e.json(p, v)
	}
	e.start()
	if basic(p.t) {
		e.basic(v)
		return nil
	}
	return e.gobValue(p, v)
}

func (e *encoder) json(p param, v reflect.Value) error {
	if p.t == anySliceType && !v.IsNil() {
		e.start()
		var ok bool
		if e.head, ok = plainStrings(e.head, v); ok {
			return nil
		}
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return fmt.Errorf("%w: a %v: %v", ErrEncoding, v.Type(), err)
	}
	// JSON would carry a string that is not UTF-8 with its bad bytes
	// replaced by U+FFFD, which it writes as this escape (a real U+FFFD it
	// writes as it is): refuse rather than change the data.
	if bytes.Contains(b, []byte(`\ufffd`)) {
		if path, str, ok := notUTF8(v, "", 0); ok {
			return fmt.Errorf("%w: a %v: the string %s at %s is not valid UTF-8, and a value holding interfaces crosses as JSON", ErrEncoding, v.Type(), wire.Quote(str), path)
		}
	}
	e.bytes(b)
	return nil
}

// basic writes v, of a basic kind.
func (e *encoder) basic(v reflect.Value) {
	switch k := v.Kind(); {
	case k == reflect.Bool:
		b := byte(0)
		if v.Bool() {
			b = 1
		}
		e.head = append(e.head, b)
	case k == reflect.String:
		e.head = binary.AppendUvarint(e.head, uint64(v.Len()))
		e.head = append(e.head, v.String()...)
	case k == reflect.Float32 || k == reflect.Float64:
		e.head = binary.LittleEndian.AppendUint64(e.head, math.Float64bits(v.Float()))
	case v.CanInt():
		e.head = binary.AppendVarint(e.head, v.Int())
	case v.CanUint():
		e.head = binary.AppendUvarint(e.head, v.Uint())
	default: // []byte
		if v.IsNil() {
			e.head = append(e.head, 0)
			return
		}
		e.head = append(e.head, 1)
		e.bytes(v.Bytes())
	}
}

// gobValue writes v, of a kind gob encodes, and its nil flag.
func (e *encoder) gobValue(p param, v reflect.Value) error {
	if nilable(p.t) {
		if v.IsNil() {
			e.head = append(e.head, 0)
			return nil
		}
		e.head = append(e.head, 1)
	}
	if e.gob == nil {
		e.gobs = new(bytes.Buffer)
		e.gob = gob.NewEncoder(e.gobs)
	}
	if err := e.gob.EncodeValue(v); err != nil {
		return fmt.Errorf("%w: a %v: %v", ErrEncoding, p.t, err)
	}
	return nil
}

// finish returns the encoded values.
func (e *encoder) finish() []byte {
	var gobs []byte
	if e.gobs != nil {
		gobs = e.gobs.Bytes()
	}
	if e.head == nil && len(gobs) == 0 {
		return nil
	}
	var head []byte
	if e.head != nil {
		head = e.head[lenRoom:]
	}
	if n := len(head); n < 0x80 && e.head != nil {
		e.head[0] = byte(n) // its uvarint
		return append(e.head, gobs...)
	}
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(head)+len(gobs)), uint64(len(head)))
	out = append(out, head...)
	return append(out, gobs...)
}

type decoder struct {
	head []byte
	rest []byte
	gob  *gob.Decoder
	err  error
}

func newDecoder(b []byte) decoder {
	if len(b) == 0 {
		return decoder{}
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return decoder{err: errShort}
	}
	return decoder{head: b[k : k+int(n)], rest: b[k+int(n):]}
}

func (d *decoder) uvarint() (uint64, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, k := binary.Uvarint(d.head)
	if k <= 0 {
		return 0, errShort
	}
	d.head = d.head[k:]
	return n, nil
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if uint64(len(d.head)) < n {
		return nil, errShort
	}
	b := d.head[:n:n]
	d.head = d.head[n:]
	return b, nil
}

func (d *decoder) byte() (byte, error) {
	if d.err != nil {
		return 0, d.err
	}
	if len(d.head) == 0 {
		return 0, errShort
	}
	b := d.head[0]
	d.head = d.head[1:]
	return b, nil
}

// allocs make settable zero values of common types without reflect.New,
// whose lookup of the pointer type costs more time and stack (see
// internal/direct).
var allocs = map[reflect.Type]func() reflect.Value{
	reflect.TypeFor[string]():   alloc[string],
	reflect.TypeFor[bool]():     alloc[bool],
	reflect.TypeFor[int]():      alloc[int],
	reflect.TypeFor[int64]():    alloc[int64],
	reflect.TypeFor[uint64]():   alloc[uint64],
	reflect.TypeFor[float64]():  alloc[float64],
	reflect.TypeFor[[]byte]():   alloc[[]byte],
	reflect.TypeFor[[]string](): alloc[[]string],
	reflect.TypeFor[[]any]():    alloc[[]any],
	reflect.TypeFor[any]():      alloc[any],
}

func alloc[T any]() reflect.Value { return reflect.ValueOf(new(T)).Elem() }

// value reads a value of p's value kind (gob or JSON).
func (d *decoder) value(p param, decodeJSON func([]byte, any) error) (reflect.Value, error) {
	v := p.zero()
	var err error
	if p.kind == kindGob && basic(p.t) { // into's case, a frame less deep
		err = d.basic(v)
	} else {
		err = d.into(p, v, decodeJSON)
	}
	if err != nil {
		return reflect.Value{}, err
	}
	return v, nil
}

// zero returns a settable zero value of p's type.
func (p param) zero() reflect.Value {
	if p.alloc != nil {
		return p.alloc()
	}
	return reflect.New(p.t).Elem()
}

// into reads a value of p's value kind into v, a settable zero value of
// p's type, which it may leave partly set when it fails. decodeJSON nil
// is json.Unmarshal.
func (d *decoder) into(p param, v reflect.Value, decodeJSON func([]byte, any) error) error {
	switch {
	case p.kind == kindJSON:
		return d.json(p, v, decodeJSON)
	case basic(p.t):
		return d.basic(v)
	}
	return d.gobValue(p, v)
}

func (d *decoder) json(p param, v reflect.Value, decodeJSON func([]byte, any) error) error {
	b, err := d.bytes()
	if err != nil {
		return err
	}
	if decodeJSON == nil {
		if p.t == anySliceType {
			if a, ok := readPlainStrings(b); ok {
				*v.Addr().Interface().(*[]any) = a
				return nil
			}
		}
		decodeJSON = json.Unmarshal
	}
	if err := decodeJSON(b, v.Addr().Interface()); err != nil {
		return fmt.Errorf("decoding a %v from JSON: %v", p.t, err)
	}
	return nil
}

// gobValue reads a value gob encodes, after its nil flag.
func (d *decoder) gobValue(p param, v reflect.Value) error {
	if nilable(p.t) {
		null, err := d.byte()
		if err != nil || null == 0 {
			return err
		}
	}
	if d.gob == nil {
		d.gob = gob.NewDecoder(bytes.NewReader(d.rest))
	}
	if err := d.gob.DecodeValue(v.Addr()); err != nil {
		return fmt.Errorf("decoding a %v: %v", p.t, err)
	}
	// gob sends an empty slice or map as nothing at all.
	switch {
	case v.Kind() == reflect.Slice && v.IsNil():
		v.Set(reflect.MakeSlice(p.t, 0, 0))
	case v.Kind() == reflect.Map && v.IsNil():
		v.Set(reflect.MakeMap(p.t))
	}
	return nil
}

// basic reads v, of a basic kind.
func (d *decoder) basic(v reflect.Value) error {
	switch k := v.Kind(); {
	case k == reflect.Bool:
		b, err := d.byte()
		v.SetBool(b != 0)
		return err
	case k == reflect.String:
		b, err := d.bytes()
		v.SetString(string(b))
		return err
	case k == reflect.Float32 || k == reflect.Float64:
		if len(d.head) < 8 || d.err != nil {
			return errShort
		}
		v.SetFloat(math.Float64frombits(binary.LittleEndian.Uint64(d.head)))
		d.head = d.head[8:]
		return nil
	case v.CanInt():
		if d.err != nil {
			return d.err
		}
		n, k := binary.Varint(d.head)
		if k <= 0 {
			return errShort
		}
		d.head = d.head[k:]
		if v.OverflowInt(n) {
			return overflows(n, v.Type())
		}
		v.SetInt(n)
		return nil
	case v.CanUint():
		n, err := d.uvarint()
		if err == nil && v.OverflowUint(n) {
			err = overflows(n, v.Type())
		}
		if err == nil {
			v.SetUint(n)
		}
		return err
	default: // []byte
		null, err := d.byte()
		if err != nil || null == 0 {
			return err
		}
		b, err := d.bytes()
		if err == nil {
			v.SetBytes(append(make([]byte, 0, len(b)), b...))
		}
		return err
	}
}

// overflows is the error of a number too large for t; out of line, as
// fmt's arguments would widen basic's frame.
//
//go:noinline
func overflows[N int64 | uint64](n N, t reflect.Type) error {
	return fmt.Errorf("%d overflows a %v", n, t)
}

func (d *decoder) id() (uint32, error) {
	n, err := d.uvarint()
	if err == nil && n > math.MaxUint32 {
		err = fmt.Errorf("stream id %d out of range", n)
	}
	return uint32(n), err
}
