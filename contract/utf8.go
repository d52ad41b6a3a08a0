package contract

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// maxUTF8Depth bounds notUTF8's walk. The walk follows only what
// encoding/json encoded, which json.Marshal has found free of cycles, so
// this is a safeguard, not a limit a value meets.
const maxUTF8Depth = 1000

// notUTF8 finds, among the strings encoding/json encodes for v (map keys
// included), one that is not valid UTF-8, and returns where it is (path,
// as `["key"][2].Field`) and the string. It follows what json follows:
// exported fields and embedded structs, not fields tagged "-"; it does
// not look into a value with an encoding of its own (MarshalJSON,
// MarshalText).
func notUTF8(v reflect.Value, path string, depth int) (string, string, bool) {
	if !v.IsValid() || depth > maxUTF8Depth {
		return "", "", false
	}
	if ownEncoding(v.Type()) {
		return "", "", false
	}
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return orTop(path), v.String(), true
		}
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			return notUTF8(v.Elem(), path, depth+1)
		}
	case reflect.Map:
		keyOwn := ownEncoding(v.Type().Key())
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			p := fmt.Sprintf("%s[%q]", path, fmt.Sprint(k.Interface()))
			if !keyOwn && k.Kind() == reflect.String && !utf8.ValidString(k.String()) {
				return p + " (a key)", k.String(), true
			}
			if at, s, ok := notUTF8(iter.Value(), p, depth+1); ok {
				return at, s, true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "", "", false // bytes: base64, or numbers
		}
		for i := range v.Len() {
			if at, s, ok := notUTF8(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); ok {
				return at, s, true
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if !f.IsExported() && !(f.Anonymous && ft.Kind() == reflect.Struct) {
				continue // json encodes an unexported embedded struct's fields only
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			p := path + "." + name
			if f.Anonymous && name == f.Name {
				p = path // its fields are promoted
			}
			if at, s, ok := notUTF8(v.Field(i), p, depth+1); ok {
				return at, s, true
			}
		}
	}
	return "", "", false
}

// ownEncoding reports whether t, or a pointer to it, encodes itself for
// encoding/json.
func ownEncoding(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false
	}
	for _, m := range []reflect.Type{jsonMarshaler, textMarshaler} {
		if t.Implements(m) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

func orTop(path string) string {
	if path == "" {
		return "the top"
	}
	return path
}
