package contract

import (
	"fmt"
	"reflect"
	"unicode/utf8"
)

// notUTF8 finds a string in v, a map key included, that is not valid
// UTF-8, and returns where it is (path, as "[\"key\"][2].Field") and the
// string. Values of types with their own JSON encoding are not looked
// into.
func notUTF8(v reflect.Value, path string) (string, string, bool) {
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return orTop(path), v.String(), true
		}
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			return notUTF8(v.Elem(), path)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			p := fmt.Sprintf("%s[%q]", path, fmt.Sprint(k.Interface()))
			if k.Kind() == reflect.String && !utf8.ValidString(k.String()) {
				return p + " (a key)", k.String(), true
			}
			if at, s, ok := notUTF8(iter.Value(), p); ok {
				return at, s, true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "", "", false // JSON carries bytes as base64
		}
		for i := range v.Len() {
			if at, s, ok := notUTF8(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); ok {
				return at, s, true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				if at, s, ok := notUTF8(v.Field(i), path+"."+f.Name); ok {
					return at, s, true
				}
			}
		}
	}
	return "", "", false
}

func orTop(path string) string {
	if path == "" {
		return "the top"
	}
	return path
}
