package contract

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The plain-string path writes exactly what json.Marshal writes, and reads
// back exactly what json.Unmarshal makes; it takes what it must and
// leaves the rest to encoding/json.
func TestPlainStringsAsEncodingJSON(t *testing.T) {
	cases := [][]any{
		{"step 1 of 2000"}, {""}, {"a", "b", ""}, {"ünïcode € ✓ \U0001F600"}, {"%s %d", "\x7f"},
		{"a<b"}, {"x&y"}, {"q\"uote"}, {"back\\slash"}, {"tab\t"}, {"nl\n"}, {"\x00"},
		{"bad \xff utf8"}, {"line\u2028sep"}, {"para\u2029"}, {"\ufffd real"}, {"half \xe2\x82"},
		{"s", 1}, {1.5}, {nil}, {"s", nil}, {true}, {json.Number("1")}, {[]any{"nested"}}, {},
	}
	want := map[string]bool{`["step 1 of 2000"]`: true, `[""]`: true, `["a","b",""]`: true,
		`["ünïcode € ✓ 😀"]`: true, "[\"%s %d\",\"\x7f\"]": true, `["� real"]`: true}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", " ", "<", "&", "\"", "\\", "\n", "\x01", "é", "€", "\xff", "\xe2\x80\xa8", "\ufffd", "]", ",", "[", "\x7f"}
	for range 3000 {
		var v []any
		for range 1 + r.IntN(3) {
			var b []byte
			for range r.IntN(6) {
				b = append(b, alphabet[r.IntN(len(alphabet))]...)
			}
			v = append(v, string(b))
		}
		cases = append(cases, v)
	}
	took := 0
	for _, c := range cases {
		j, err := json.Marshal(c)
		head, ok := plainStrings(nil, reflect.ValueOf(c))
		if want[string(j)] && !ok {
			t.Errorf("%q: not taken by the plain path", c)
		}
		if ok {
			took++
			if err != nil {
				t.Errorf("%q: the plain path took what json.Marshal refuses: %v", c, err)
				continue
			}
			if w := binary.AppendUvarint(nil, uint64(len(j))); !bytes.Equal(head, append(w, j...)) {
				t.Errorf("%q: the plain path wrote %q, json.Marshal %q", c, head, j)
			}
		}
		if err != nil {
			continue
		}
		got, ok := readPlainStrings(j)
		if want[string(j)] && !ok {
			t.Errorf("%s: not read by the plain path", j)
		}
		if !ok {
			continue
		}
		var w []any
		if err := json.Unmarshal(j, &w); err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("%s: the plain path read %q, json.Unmarshal %q (%v)", j, got, w, err)
		}
	}
	if took < 100 {
		t.Errorf("the plain path took only %d of %d cases", took, len(cases))
	}
	// Input json.Marshal does not write is left to encoding/json.
	for _, in := range []string{`[ "a"]`, `["a" ]`, `["a",]`, `["a"`, `"a"]`, `[]`, `["a\"b"]`, `["a\u0041"]`, `["a""b"]`, `["a",1]`, "[\"\x01\"]", "[\"\xff\"]"} {
		if got, ok := readPlainStrings([]byte(in)); ok {
			t.Errorf("%s: read by the plain path as %q", in, got)
		}
	}
}
