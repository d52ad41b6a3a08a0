package contract

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"unicode/utf8"
)

// A []any of strings (what shared.Ui sends for every line) crosses as
// JSON. When every string is one encoding/json writes as it is, between
// quotes, plugwire writes and reads that JSON itself, byte for byte what
// json.Marshal writes and the value json.Unmarshal makes, without their
// reflection.

var anySliceType = reflect.TypeFor[[]any]()

// plainJSON reports whether json.Marshal writes s as it is between
// quotes: valid UTF-8 without a control character, '"', '\\', the '<',
// '>' and '&' it escapes for HTML, or U+2028 and U+2029, which it escapes
// too. json.Unmarshal then reads the same bytes back as s.
func plainJSON[S string | []byte](s S) bool {
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b < 0x20 || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
				return false
			}
			i++
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// plainStrings appends to head, as encoder.bytes would append json.Marshal
// of v, a []any, v's JSON, when v is non-empty and holds only plain
// strings; it reports whether it did.
func plainStrings(head []byte, v reflect.Value) ([]byte, bool) {
	n := v.Len()
	if n == 0 {
		return head, false
	}
	size := 1 + n // '[', a ',' or ']' after each
	for i := range n {
		s, ok := v.Index(i).Interface().(string)
		if !ok || !plainJSON(s) {
			return head, false
		}
		size += 2 + len(s)
	}
	head = binary.AppendUvarint(head, uint64(size))
	head = append(head, '[')
	for i := range n {
		if i > 0 {
			head = append(head, ',')
		}
		head = append(head, '"')
		head = append(head, v.Index(i).Interface().(string)...)
		head = append(head, '"')
	}
	return append(head, ']'), true
}

// readPlainStrings returns what json.Unmarshal makes of b into a nil
// []any when b is a non-empty array of plain strings as json.Marshal
// writes it (no space), and false for anything else.
func readPlainStrings(b []byte) ([]any, bool) {
	if len(b) < 4 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	n := 0
	for rest := b[1:]; ; n++ {
		if len(rest) == 0 || rest[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 || !plainJSON(rest[1:1+end]) {
			return nil, false // a '\\' before a quote is not plain either
		}
		rest = rest[2+end:]
		if len(rest) == 1 && rest[0] == ']' {
			break
		}
		if len(rest) < 2 || rest[0] != ',' {
			return nil, false
		}
		rest = rest[1:]
	}
	out := make([]any, 0, n+1)
	for rest := b[1:]; len(out) <= n; {
		end := bytes.IndexByte(rest[1:], '"')
		out = append(out, string(rest[1:1+end]))
		rest = rest[3+end:]
	}
	return out, true
}
