package exactjson

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// Numbers a float64 holds as written decode as float64; others keep their
// text as json.Number.
func TestDecodeJSONNumbers(t *testing.T) {
	for _, tc := range []struct {
		text string
		want any
	}{
		{"20", 20.0},
		{"0.1", 0.1},
		{"-0.5", -0.5},
		{"1e300", 1e300},
		{"1E2", 100.0},
		{"12345678901234", 12345678901234.0},
		{"9007199254740992", 9007199254740992.0}, // 2^53
		{"1152921504606846976", 1152921504606846976.0},                        // 2^60, exact though it prints otherwise
		{"-9223372036854775808", -9223372036854775808.0},                      // -2^63
		{"9007199254740993", json.Number("9007199254740993")},                 // 2^53+1
		{"9223372036854775807", json.Number("9223372036854775807")},           // int64 max
		{"18446744073709551615", json.Number("18446744073709551615")},         // uint64 max
		{"1.00000000000000000001", json.Number("1.00000000000000000001")},     // more digits than float64 keeps
		{"1e400", json.Number("1e400")},                                       // beyond float64's range
		{"1e-400", json.Number("1e-400")},                                     // would become 0
		{"0.1e-9223372036854775808", json.Number("0.1e-9223372036854775808")}, // an exponent beyond int
		{"0e99999999999", 0.0},
	} {
		got, err := Decode([]byte(tc.text))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Decode(%s) = %#v, %v; want %#v", tc.text, got, err, tc.want)
		}
	}
	got, err := Decode([]byte("-0"))
	if f, ok := got.(float64); err != nil || !ok || f != 0 || !math.Signbit(f) {
		t.Errorf("Decode(-0) = %#v, %v; want float64 -0", got, err)
	}
	got, err = Decode([]byte(`{"a":[9007199254740993,{"b":0.25}]}`))
	want := map[string]any{"a": []any{json.Number("9007199254740993"), map[string]any{"b": 0.25}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("nested: %#v, %v", got, err)
	}
	for _, bad := range []string{"", "{", "1 2", "{} x", "[1,]"} {
		if got, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) = %#v, want an error", bad, got)
		}
	}
}
