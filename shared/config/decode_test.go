package config_test

import (
	"encoding/json"
	"errors"
	"math"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/shared/config"
)

type diskConfig struct {
	DiskSize int            `json:"disk_size"`
	Timeout  time.Duration  `json:"timeout"`
	Tags     map[string]any `json:"tags"`
	Regions  []string       `json:"regions"`
}

type template struct {
	Builders []diskConfig `json:"builders"`
}

type Common struct {
	Name  string `json:"name"`
	Debug bool   `json:"debug"`
}

type withEmbedded struct {
	Common
	Type string `json:"type"`
}

type numbers struct {
	I     int     `json:"i"`
	I8    int8    `json:"i8"`
	I64   int64   `json:"i64"`
	U     uint    `json:"u"`
	U8    uint8   `json:"u8"`
	U64   uint64  `json:"u64"`
	F32   float32 `json:"f32"`
	F64   float64 `json:"f64"`
	Port  int     `json:"port,string"`
	Plain int
}

type kinds struct {
	S      string            `json:"s"`
	B      bool              `json:"b"`
	P      *int              `json:"p"`
	A      [2]int            `json:"a"`
	M      map[string]int    `json:"m"`
	IntKey map[int]string    `json:"int_key"`
	Any    any               `json:"any"`
	When   time.Time         `json:"when"`
	IP     net.IP            `json:"ip"`
	Raw    json.RawMessage   `json:"raw"`
	Bytes  []byte            `json:"bytes"`
	Nested *diskConfig       `json:"nested"`
	D      *time.Duration    `json:"d"`
	Skip   string            `json:"-"`
	Maps   map[string][]bool `json:"maps"`
	Num    json.Number       `json:"num"`
}

func TestDecode(t *testing.T) {
	intp := func(i int) *int { return &i }
	durp := func(d time.Duration) *time.Duration { return &d }
	when := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		config string // JSON, decoded as Prepare receives it
		into   func() any
		want   any
	}{
		{"template", `{"builders":[{"disk_size":20,"timeout":"90s","tags":{"env":"demo","empty":{}},"regions":["eu","us"]}]}`,
			func() any { return new(template) },
			&template{Builders: []diskConfig{{DiskSize: 20, Timeout: 90 * time.Second,
				Tags: map[string]any{"env": "demo", "empty": map[string]any{}}, Regions: []string{"eu", "us"}}}}},
		{"embedded struct fields are promoted", `{"name":"first","debug":true,"type":"noop"}`,
			func() any { return new(withEmbedded) },
			&withEmbedded{Common: Common{Name: "first", Debug: true}, Type: "noop"}},
		{"keys match case-insensitively", `{"Disk_Size":1,"TIMEOUT":"1m"}`,
			func() any { return new(diskConfig) },
			&diskConfig{DiskSize: 1, Timeout: time.Minute}},
		{"numbers at their limits", `{"i":-3,"i8":-128,"i64":9007199254740992,"u":7,"u8":255,"u64":1e19,"f32":1.5,"f64":-2.25,"port":"8080","Plain":1e3}`,
			func() any { return new(numbers) },
			&numbers{I: -3, I8: -128, I64: 1 << 53, U: 7, U8: 255, U64: 1e19, F32: 1.5, F64: -2.25, Port: 8080, Plain: 1000}},
		{"every kind", `{"s":"x","b":false,"p":3,"a":[1,2],"m":{"k":1},"int_key":{"7":"seven"},"any":{"x":[1,null]},
			"when":"2026-11-30T10:00:00Z","ip":"10.0.0.1","raw":{"kept":true},"bytes":"aGk=","nested":{"disk_size":5},"d":"2h","maps":{"x":[true]},"num":12.5}`,
			func() any { return new(kinds) },
			&kinds{S: "x", P: intp(3), A: [2]int{1, 2}, M: map[string]int{"k": 1}, IntKey: map[int]string{7: "seven"},
				Any: map[string]any{"x": []any{1.0, nil}}, When: when, IP: net.ParseIP("10.0.0.1"),
				Raw: json.RawMessage(`{"kept":true}`), Bytes: []byte("hi"), Nested: &diskConfig{DiskSize: 5},
				D: durp(2 * time.Hour), Maps: map[string][]bool{"x": {true}}, Num: "12.5"}},
		{"null leaves defaults and clears pointers", `{"disk_size":null,"timeout":null,"regions":null}`,
			func() any { return &diskConfig{DiskSize: 40, Timeout: time.Second, Regions: []string{"x"}} },
			&diskConfig{DiskSize: 40, Timeout: time.Second}},
		{"absent keys leave defaults", `{}`,
			func() any { return &diskConfig{DiskSize: 40} },
			&diskConfig{DiskSize: 40}},
		{"maps are added to", `{"tags":{"b":2}}`,
			func() any { return &diskConfig{Tags: map[string]any{"a": 1.0}} },
			&diskConfig{Tags: map[string]any{"a": 1.0, "b": 2.0}}},
		{"into a map", `{"a":"1s","b":"2m"}`,
			func() any { return new(map[string]time.Duration) },
			&map[string]time.Duration{"a": time.Second, "b": 2 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src any
			if err := json.Unmarshal([]byte(tt.config), &src); err != nil {
				t.Fatal(err)
			}
			got := tt.into()
			if err := config.Decode(src, got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		into   any
		want   string // the whole error text
	}{
		{"wrong type in an array element", `{"builders":[{"disk_size":20},{"disk_size":"20G"}]}`, new(template),
			`builders[1].disk_size: want number, got "20G"`},
		{"unknown key, close to a known one", `{"builders":[{"dsk_size":20}]}`, new(template),
			`builders[0].dsk_size: unknown key (did you mean "disk_size"?)`},
		{"unknown key, nothing close", `{"zone":"eu"}`, new(diskConfig),
			`zone: unknown key (known keys: disk_size, regions, tags, timeout)`},
		{"unknown key with odd characters", `{"tags":{},"a b":1}`, new(diskConfig),
			`["a b"]: unknown key (known keys: disk_size, regions, tags, timeout)`},
		{"every problem, in key order", `{"timeout":90,"disk_size":1.5,"regions":"eu"}`, new(diskConfig),
			`disk_size: want integer, got 1.5; regions: want array, got "eu"; timeout: want duration such as "90s" or "1h30m", got 90`},
		{"bad duration text", `{"timeout":"90 seconds"}`, new(diskConfig),
			`timeout: want duration such as "90s" or "1h30m", got "90 seconds"`},
		{"int8 overflow", `{"i8":300}`, new(numbers), `i8: want integer from -128 to 127, got 300`},
		{"negative uint", `{"u":-1}`, new(numbers), `u: want integer from 0 to 18446744073709551615, got -1`},
		{"uint8 overflow", `{"u8":256}`, new(numbers), `u8: want integer from 0 to 255, got 256`},
		{"int64 overflow", `{"i64":1e19}`, new(numbers), `i64: want integer from -9223372036854775808 to 9223372036854775807, got 1e+19`},
		{"float32 overflow", `{"f32":1e39}`, new(numbers), `f32: want number that fits a float32, got 1e+39`},
		{"quoted number that is not one", `{"port":"http"}`, new(numbers), `port: want a quoted JSON value, got "http"`},
		{"bool", `{"b":"yes"}`, new(kinds), `b: want true or false, got "yes"`},
		{"json.Number", `{"num":"12"}`, new(kinds), `num: want number, got "12"`},
		{"string", `{"s":12}`, new(kinds), `s: want string, got 12`},
		{"object for a struct", `{"nested":[1]}`, new(kinds), `nested: want object, got array`},
		{"array length", `{"a":[1,2,3]}`, new(kinds), `a: want array of 2 elements, got 3`},
		{"map value", `{"m":{"k":"v"}}`, new(kinds), `m.k: want number, got "v"`},
		{"map key", `{"int_key":{"seven":"7"}}`, new(kinds), `int_key.seven: want a key that is a int, got "seven"`},
		{"text unmarshaler", `{"ip":"not-an-ip"}`, new(kinds), `ip: invalid IP address: not-an-ip`},
		{"skipped field", `{"Skip":"x"}`, new(kinds), `Skip: unknown key`},
		{"whole config", `[1]`, new(diskConfig), `config: want object, got array`},
		{"long string is cut", `{"s":["` + strings.Repeat("x", 200) + `"]}`, new(kinds), `s: want string, got array`},
		{"long value quoted short", `{"disk_size":"` + strings.Repeat("y", 200) + `"}`, new(diskConfig),
			`disk_size: want number, got "` + strings.Repeat("y", 80) + `"... (200 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src any
			if err := json.Unmarshal([]byte(tt.config), &src); err != nil {
				t.Fatal(err)
			}
			err := config.Decode(src, tt.into)
			if err == nil {
				t.Fatalf("Decode accepted %s", tt.config)
			}
			got := err.Error()
			if strings.HasSuffix(tt.want, "unknown key") {
				got, _, _ = strings.Cut(got, " (")
			}
			if got != tt.want {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("errors.As(%T, *Error) is false", err)
			}
		})
	}
}

func TestDecodeArguments(t *testing.T) {
	var c diskConfig
	tests := []struct {
		name   string
		config any
		into   any
		want   string
	}{
		{"nil target", map[string]any{}, nil, "v must be a non-nil pointer, got <nil>"},
		{"non-pointer target", map[string]any{}, c, "v must be a non-nil pointer, got config_test.diskConfig"},
		{"config json cannot encode", map[string]any{"f": func() {}}, &c, "config cannot be encoded as JSON"},
		{"interface with methods", map[string]any{"e": "x"}, &struct {
			E error `json:"e"`
		}{}, "e: cannot decode into Go type error, an interface with methods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := config.Decode(tt.config, tt.into)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// A config given as Go values, as a test or a host in the same process
// may, decodes as its JSON encoding would.
func TestDecodeGoValues(t *testing.T) {
	src := map[string]any{"disk_size": 20, "regions": []string{"eu"}, "timeout": "3s"}
	var c diskConfig
	if err := config.Decode(src, &c); err != nil {
		t.Fatal(err)
	}
	want := diskConfig{DiskSize: 20, Regions: []string{"eu"}, Timeout: 3 * time.Second}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %#v, want %#v", c, want)
	}
}

// json.Number, from a decoder with UseNumber, keeps integers exact.
func TestDecodeJSONNumber(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"i64":9007199254740993,"u64":18446744073709551615,"f64":0.1}`))
	dec.UseNumber()
	var src any
	if err := dec.Decode(&src); err != nil {
		t.Fatal(err)
	}
	var n numbers
	if err := config.Decode(src, &n); err != nil {
		t.Fatal(err)
	}
	if n.I64 != 9007199254740993 || n.U64 != 18446744073709551615 || n.F64 != 0.1 {
		t.Fatalf("got %+v", n)
	}
}

// Of two promoted fields with one name at the same depth, neither is set
// (as in encoding/json), so the key is unknown; a shallower one wins.
func TestDecodeFieldConflicts(t *testing.T) {
	// Untagged, as go vet rightly flags a json tag repeated this way.
	type A struct{ X int }
	type B struct{ X int }
	type both struct {
		A
		B
	}
	type shallow struct {
		A
		X string
	}
	if err := config.Decode(map[string]any{"x": 1.0}, new(both)); err == nil || !strings.HasPrefix(err.Error(), "x: unknown key (this object takes no keys)") {
		t.Errorf("ambiguous field: error %v", err)
	}
	var s shallow
	if err := config.Decode(map[string]any{"x": "top"}, &s); err != nil || s.X != "top" || s.A.X != 0 {
		t.Errorf("shallow field: %+v, %v", s, err)
	}
}

// Many problems are listed up to a limit, on one line.
func TestDecodeManyErrors(t *testing.T) {
	src := map[string]any{}
	for _, k := range strings.Split("a b c d e f g h i j k l", " ") {
		src[k] = 1.0
	}
	err := config.Decode(src, new(struct{}))
	var es config.Errors
	if !errors.As(err, &es) || len(es) != 12 {
		t.Fatalf("error %v: want 12 Errors", err)
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, "; and 2 more") || strings.Contains(msg, "\n") || strings.Contains(msg, "k: ") {
		t.Fatalf("error text %q", msg)
	}
}

// Go integers given directly cross Decode's JSON re-encoding
// exactly, ",string" fields too; keys that differ only in case and name
// one field are reported, both names, and neither sets it.
func TestDecodeExactAndCase(t *testing.T) {
	var n numbers
	err := config.Decode(map[string]any{"i64": int64(math.MaxInt64), "u64": uint64(math.MaxUint64), "i": int64(math.MinInt64)}, &n)
	if err != nil || n.I64 != math.MaxInt64 || n.U64 != math.MaxUint64 || n.I != math.MinInt64 {
		t.Errorf("Go integers at their extremes: %+v, %v", n, err)
	}
	type quoted struct {
		Big int64 `json:"big,string"`
	}
	var q quoted
	if err := config.Decode(map[string]any{"big": "9007199254740993"}, &q); err != nil || q.Big != 9007199254740993 {
		t.Errorf(`",string" 2^53+1: %+v, %v`, q, err)
	}
	n = numbers{I: 7}
	err = config.Decode(map[string]any{"I": 1.0, "i": 2.0, "u8": 3.0}, &n)
	want := `I: keys "I" and "i" set the same field "i" (keys match it regardless of case): keep one`
	if err == nil || err.Error() != want {
		t.Errorf("keys differing in case: %v, want %q", err, want)
	}
	if n.I != 7 || n.U8 != 3 {
		t.Errorf("keys differing in case set the field, or stopped the others: %+v", n)
	}
}
