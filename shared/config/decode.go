package config

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugwire/plugwire/internal/exactjson"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// Decode decodes src, the JSON-shaped value shared.Builder.Prepare
// receives (what encoding/json decodes into an any value: objects as
// map[string]any, arrays as []any, numbers as float64 or
// json.Number, strings, booleans and nil), into the value v points to.
//
// Struct fields are matched by their json tags and named as encoding/json
// names them (the field name when there is no tag, "-" skips a field,
// fields of embedded structs are promoted, a key matches a name exactly or
// else case-insensitively, the ",string" option is honoured). Unlike
// encoding/json, Decode is strict, because a config is written by a
// person and a mistake should not pass silently:
//
//   - a key that matches no field is an error (declare a field for keys
//     such as "type" or "name" that a template carries for the host);
//   - keys that differ only in case and so match one field ("Timeout"
//     and "timeout") are an error naming both, not a silent last-wins;
//   - a number must fit the field: 20.5 is not an int, 300 is not an
//     int8, -1 is not a uint;
//   - an array must have exactly as many elements as a Go array field;
//   - a time.Duration is written as a string time.ParseDuration accepts
//     ("90s", "1h30m"); a bare number is refused, since nothing says
//     whether 90 means seconds or nanoseconds.
//
// As in encoding/json, a null leaves the field as it was (pointers, maps,
// slices and interfaces become nil), so defaults set in *v before the call
// survive keys the config leaves out or sets to null; maps are added to,
// slices replaced. Types implementing json.Unmarshaler (time.Time, for
// one) decode themselves from their part of the config, and types
// implementing encoding.TextUnmarshaler (net.IP, ...) from a string.
//
// Every problem is reported, each naming its key path relative to src
// and what was wrong, on one line. Prepare receives only its builder's
// block of a template, so a builder sees
//
//	disk_size: want number, got "20G"; timout: unknown key (did you mean "timeout"?)
//
// and nested keys as "tags.env" or "regions[1]". A src that is not
// JSON-shaped (a Go struct or typed map given directly, as in a test) is
// first converted through its JSON encoding; one that has none is an
// error wrapping shared.ErrConfigNotJSON. v must be a non-nil pointer.
//
// The error is an Errors in the plugin's process, for errors.As there.
// Returned from Prepare, only its text crosses to the host (as for every
// error a plugin returns): errors.As finds no Errors in the error the
// host's Prepare returns, nor through plugwiretest, which serves over the
// same wire; match the text, or test Decode directly.
func Decode(src, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config.Decode: v must be a non-nil pointer, got %T", v)
	}
	if !isJSONShaped(src) {
		raw, err := json.Marshal(src)
		if err != nil {
			return fmt.Errorf("config.Decode: %w: config of type %T: %v", shared.ErrConfigNotJSON, src, err)
		}
		given := src
		if src, err = exactjson.Decode(raw); err != nil {
			return fmt.Errorf("config.Decode: re-reading the JSON encoding of a %T: %v", given, err)
		}
	}
	var d decoder
	d.decode("", src, rv.Elem())
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}

// Error is one problem Decode found.
type Error struct {
	// Path is the key path of the bad value, relative to the config
	// Decode was given, as in "disk_size", "regions[1]" or
	// `tags["a b"]`; "" is the config as a whole.
	Path string
	// Problem says what is wrong, as in `want number, got "20G"`.
	Problem string
}

// Error returns "PATH: PROBLEM", or "config: PROBLEM" for the config as a
// whole.
func (e *Error) Error() string {
	if e.Path == "" {
		return "config: " + e.Problem
	}
	return e.Path + ": " + e.Problem
}

// Errors is the error Decode returns: every problem it found, in the
// order of the config's keys (sorted) and array indices.
type Errors []*Error

// maxListed is how many problems an Errors spells out in its text.
const maxListed = 10

// Error lists the problems on one line, separated by "; ".
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(es)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns each problem, for errors.As.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// isJSONShaped reports whether v holds only what encoding/json decodes
// into an any value (json.Number allowed).
func isJSONShaped(v any) bool {
	switch v := v.(type) {
	case nil, bool, float64, string, json.Number:
		return true
	case map[string]any:
		for _, e := range v {
			if !isJSONShaped(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range v {
			if !isJSONShaped(e) {
				return false
			}
		}
		return true
	}
	return false
}

// decoder collects the problems of one Decode call.
type decoder struct {
	errs Errors
}

func (d *decoder) fail(path, format string, a ...any) {
	d.errs = append(d.errs, &Error{Path: path, Problem: fmt.Sprintf(format, a...)})
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decode decodes src into dst, which is settable.
func (d *decoder) decode(path string, src any, dst reflect.Value) {
	t := dst.Type()
	if src == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			dst.SetZero()
		}
		return
	}
	if t.Kind() == reflect.Pointer {
		if dst.IsNil() {
			dst.Set(reflect.New(t.Elem()))
		}
		d.decode(path, src, dst.Elem())
		return
	}
	switch t {
	case durationType:
		d.duration(path, src, dst)
		return
	case jsonNumberType:
		switch n := src.(type) {
		case float64:
			dst.SetString(strconv.FormatFloat(n, 'g', -1, 64))
		case json.Number:
			dst.SetString(string(n))
		default:
			d.fail(path, "want number, got %s", describe(src))
		}
		return
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		raw, err := json.Marshal(src)
		if err == nil {
			err = dst.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw)
		}
		if err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		s, ok := src.(string)
		if !ok {
			d.fail(path, "want string, got %s", describe(src))
			return
		}
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.fail(path, "cannot decode into Go type %v, an interface with methods", t)
			return
		}
		dst.Set(reflect.ValueOf(src))
	case reflect.Struct:
		d.object(path, src, dst)
	case reflect.Map:
		d.mapping(path, src, dst)
	case reflect.Slice:
		d.slice(path, src, dst)
	case reflect.Array:
		d.array(path, src, dst)
	case reflect.String:
		s, ok := src.(string)
		if !ok {
			d.fail(path, "want string, got %s", describe(src))
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := src.(bool)
		if !ok {
			d.fail(path, "want true or false, got %s", describe(src))
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		d.number(path, src, dst)
	default:
		d.fail(path, "cannot decode into Go type %v", t)
	}
}

// duration decodes a string such as "90s".
func (d *decoder) duration(path string, src any, dst reflect.Value) {
	s, ok := src.(string)
	if !ok {
		d.fail(path, `want duration such as "90s" or "1h30m", got %s`, describe(src))
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.fail(path, `want duration such as "90s" or "1h30m", got %s`, describe(src))
		return
	}
	dst.SetInt(int64(v))
}

// number decodes a JSON number into an integer or floating-point field,
// refusing what does not fit.
func (d *decoder) number(path string, src any, dst reflect.Value) {
	var f float64
	var text string // the number as written, when it came as json.Number
	switch n := src.(type) {
	case float64:
		f = n
	case json.Number:
		text = n.String()
		var err error
		if f, err = strconv.ParseFloat(text, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			d.fail(path, "want number, got %s", describe(src))
			return
		}
	default:
		d.fail(path, "want number, got %s", describe(src))
		return
	}
	t := dst.Type()
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		if math.IsInf(f, 0) || (t.Kind() == reflect.Float32 && math.Abs(f) > math.MaxFloat32) {
			d.fail(path, "want number that fits a %v, got %s", t, describe(src))
			return
		}
		dst.SetFloat(f)
		return
	}
	if f != math.Trunc(f) {
		d.fail(path, "want integer, got %s", describe(src))
		return
	}
	bits := t.Bits()
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		lo, hi := -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1) // hi excluded
		i, err := strconv.ParseInt(text, 10, bits)
		if text == "" || err != nil {
			if f < lo || f >= hi {
				maxI := int64(^uint64(0) >> (65 - bits))
				d.fail(path, "want integer from %d to %d, got %s", -maxI-1, maxI, describe(src))
				return
			}
			i = int64(f)
		}
		dst.SetInt(i)
	default:
		hi := math.Ldexp(1, bits) // excluded
		u, err := strconv.ParseUint(text, 10, bits)
		if text == "" || err != nil {
			if f < 0 || f >= hi {
				d.fail(path, "want integer from 0 to %d, got %s", ^uint64(0)>>(64-bits), describe(src))
				return
			}
			u = uint64(f)
		}
		dst.SetUint(u)
	}
}

// object decodes a JSON object into a struct.
func (d *decoder) object(path string, src any, dst reflect.Value) {
	m, ok := src.(map[string]any)
	if !ok {
		d.fail(path, "want object, got %s", describe(src))
		return
	}
	fields := structFields(dst.Type())
	keys := sortedKeys(m)
	// Keys that differ only in case ("Timeout", "timeout") can name one
	// field: which wins would be an accident of order, so neither does.
	keysOf := map[*field][]string{}
	for _, key := range keys {
		if f := lookupField(fields, key); f != nil {
			keysOf[f] = append(keysOf[f], key)
		}
	}
	for _, key := range keys {
		kp := keyPath(path, key)
		f := lookupField(fields, key)
		if f == nil {
			d.fail(kp, "unknown key%s", suggest(fields, key))
			continue
		}
		if same := keysOf[f]; len(same) > 1 {
			if key == same[0] {
				quoted := make([]string, len(same))
				for i, k := range same {
					quoted[i] = wire.Quote(k)
				}
				d.fail(kp, "keys %s set the same field %q (keys match it regardless of case): keep one", strings.Join(quoted, " and "), f.name)
			}
			continue
		}
		fv, err := fieldByIndex(dst, f.index)
		if err != nil {
			d.fail(kp, "%v", err)
			continue
		}
		val := m[key]
		if s, isString := val.(string); f.quoted && isString {
			// ",string": the value is JSON text inside a string.
			inner, err := exactjson.Decode([]byte(s))
			if err != nil {
				d.fail(kp, "want a quoted JSON value, got %s", describe(val))
				continue
			}
			val = inner
		}
		d.decode(kp, val, fv)
	}
}

// mapping decodes a JSON object into a map.
func (d *decoder) mapping(path string, src any, dst reflect.Value) {
	m, ok := src.(map[string]any)
	if !ok {
		d.fail(path, "want object, got %s", describe(src))
		return
	}
	t := dst.Type()
	if dst.IsNil() {
		dst.Set(reflect.MakeMapWithSize(t, len(m)))
	}
	for _, key := range sortedKeys(m) {
		kp := keyPath(path, key)
		kv := reflect.New(t.Key()).Elem()
		switch {
		case reflect.PointerTo(t.Key()).Implements(textUnmarshalerType):
			if err := kv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(key)); err != nil {
				d.fail(kp, "bad key: %v", err)
				continue
			}
		case t.Key().Kind() == reflect.String:
			kv.SetString(key)
		case kv.CanInt():
			i, err := strconv.ParseInt(key, 10, t.Key().Bits())
			if err != nil {
				d.fail(kp, "want a key that is a %v, got %s", t.Key(), wire.Quote(key))
				continue
			}
			kv.SetInt(i)
		case kv.CanUint():
			u, err := strconv.ParseUint(key, 10, t.Key().Bits())
			if err != nil {
				d.fail(kp, "want a key that is a %v, got %s", t.Key(), wire.Quote(key))
				continue
			}
			kv.SetUint(u)
		default:
			d.fail(path, "cannot decode into Go type %v: its keys are not strings or numbers", t)
			return
		}
		ev := reflect.New(t.Elem()).Elem()
		before := len(d.errs)
		d.decode(kp, m[key], ev)
		if len(d.errs) == before {
			dst.SetMapIndex(kv, ev)
		}
	}
}

// slice decodes a JSON array into a slice; a []byte also takes a base64
// string, as in encoding/json.
func (d *decoder) slice(path string, src any, dst reflect.Value) {
	t := dst.Type()
	if s, ok := src.(string); ok && t.Elem().Kind() == reflect.Uint8 {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			d.fail(path, "want base64 string or array of numbers, got %s", describe(src))
			return
		}
		dst.SetBytes(b)
		return
	}
	a, ok := src.([]any)
	if !ok {
		d.fail(path, "want array, got %s", describe(src))
		return
	}
	out := reflect.MakeSlice(t, len(a), len(a))
	for i, e := range a {
		d.decode(path+"["+strconv.Itoa(i)+"]", e, out.Index(i))
	}
	dst.Set(out)
}

// array decodes a JSON array of exactly the right length into a Go array.
func (d *decoder) array(path string, src any, dst reflect.Value) {
	a, ok := src.([]any)
	if !ok {
		d.fail(path, "want array, got %s", describe(src))
		return
	}
	if len(a) != dst.Len() {
		d.fail(path, "want array of %d elements, got %d", dst.Len(), len(a))
		return
	}
	for i, e := range a {
		d.decode(path+"["+strconv.Itoa(i)+"]", e, dst.Index(i))
	}
}

// describe shows a config value in an error: short values as JSON, long
// strings cut, objects and arrays by kind.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		if s := v.String(); len(s) <= 40 {
			return s
		}
		return v.String()[:40] + "..."
	case string:
		return wire.Quote(v)
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// keyPath appends key to path: ".key" for plain keys, `["key"]` otherwise.
func keyPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + wire.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
