package contract

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"reflect"
)

// A call's arguments (and a method's results) cross as one gob stream:
// per value, in order, its gob encoding (after a nil flag for a pointer,
// slice or map, so that nil stays nil and empty stays empty), its JSON
// encoding as []byte (for types holding interfaces), or a uint32 stream id
// (callbacks and byte streams, 0 for nil).

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

type encoder struct {
	buf bytes.Buffer
	enc *gob.Encoder
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = gob.NewEncoder(&e.buf)
	return e
}

// value writes v, of a gob or JSON kind.
func (e *encoder) value(p param, v reflect.Value) error {
	if p.kind == kindJSON {
		b, err := json.Marshal(v.Interface())
		if err != nil {
			return fmt.Errorf("%w: a %v: %v", ErrEncoding, v.Type(), err)
		}
		return e.enc.Encode(b)
	}
	if nilable(p.t) {
		null := v.IsNil()
		if err := e.enc.Encode(null); err != nil || null {
			return err
		}
	}
	if err := e.enc.EncodeValue(v); err != nil {
		return fmt.Errorf("%w: a %v: %v", ErrEncoding, p.t, err)
	}
	return nil
}

func (e *encoder) id(id uint32) error { return e.enc.Encode(id) }

type decoder struct{ dec *gob.Decoder }

func newDecoder(b []byte) *decoder {
	return &decoder{dec: gob.NewDecoder(bytes.NewReader(b))}
}

// value reads a value of p's gob or JSON kind.
func (d *decoder) value(p param, decodeJSON func([]byte, any) error) (reflect.Value, error) {
	ptr := reflect.New(p.t)
	if p.kind == kindJSON {
		var b []byte
		if err := d.dec.Decode(&b); err != nil {
			return reflect.Value{}, err
		}
		if err := decodeJSON(b, ptr.Interface()); err != nil {
			return reflect.Value{}, fmt.Errorf("decoding a %v from JSON: %v", p.t, err)
		}
		return ptr.Elem(), nil
	}
	if nilable(p.t) {
		var null bool
		if err := d.dec.Decode(&null); err != nil {
			return reflect.Value{}, err
		}
		if null {
			return ptr.Elem(), nil
		}
	}
	if err := d.dec.DecodeValue(ptr); err != nil {
		return reflect.Value{}, fmt.Errorf("decoding a %v: %v", p.t, err)
	}
	v := ptr.Elem()
	// gob sends an empty slice or map as nothing at all.
	switch {
	case v.Kind() == reflect.Slice && v.IsNil():
		v.Set(reflect.MakeSlice(p.t, 0, 0))
	case v.Kind() == reflect.Map && v.IsNil():
		v.Set(reflect.MakeMap(p.t))
	}
	return v, nil
}

func (d *decoder) id() (uint32, error) {
	var id uint32
	err := d.dec.Decode(&id)
	return id, err
}

// jsonDecode is how a JSON-kind value is decoded unless the contract says
// otherwise.
func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }
