package contract

import (
	"reflect"
	"strings"
	"testing"
)

type node struct {
	Parent *node `json:"-"`
	Name   string
	Kids   []*node `json:"kids,omitempty"`
}

type inner struct{ S string }

type outer struct {
	inner
	hidden string //lint:ignore U1000 a field json does not encode
}

type named struct {
	inner `json:"in"`
}

type selfEncoded struct{ S string }

func (selfEncoded) MarshalJSON() ([]byte, error) { return []byte(`"fine"`), nil }

// notUTF8 finds a bad string where json encodes one, and only there;
// a tree with back-pointers json skips ends the walk.
func TestNotUTF8(t *testing.T) {
	root := &node{Name: "root"}
	kid := &node{Parent: root, Name: "b\xffd"}
	root.Kids = []*node{{Parent: root, Name: "ok"}, kid}
	for _, tc := range []struct {
		name string
		v    any
		at   string // "" for none
	}{
		{"tree with back-pointers", map[string]any{"t": root}, `["t"].kids[1].Name`},
		{"embedded unexported struct", outer{inner{S: "b\xffd"}, "x\xff"}, ".S"},
		{"embedded struct with a name", named{inner{S: "b\xffd"}}, ".in.S"},
		{"a type encoding itself", map[string]any{"x": selfEncoded{S: "b\xffd"}}, ""},
		{"valid, with U+FFFD", map[string]any{"x": "\ufffd"}, ""},
		{"a key", map[string]any{"k\xfe": 1}, `["k\xfe"] (a key)`},
		{"bytes", map[string]any{"b": []byte("\xff")}, ""},
	} {
		at, _, ok := notUTF8(reflect.ValueOf(tc.v), "", 0)
		if ok != (tc.at != "") || at != tc.at {
			t.Errorf("%s: notUTF8 = %q, %v; want %q", tc.name, at, ok, tc.at)
		}
	}
}

// The error quotes a long bad string cut short.
func TestNotUTF8ErrorQuote(t *testing.T) {
	long := strings.Repeat("x", 1<<20) + "\xff"
	var e encoder
	err := e.value(param{kind: kindJSON, t: reflect.TypeFor[map[string]any]()}, reflect.ValueOf(map[string]any{"k": long}))
	if err == nil {
		t.Fatal("a string that is not UTF-8 crossed")
	}
	if msg := err.Error(); len(msg) > 400 || !strings.Contains(msg, `at ["k"] is not valid UTF-8`) {
		t.Errorf("error of %d bytes: %.300s", len(msg), msg)
	}
}
