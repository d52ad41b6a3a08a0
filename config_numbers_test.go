package plugwire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/shared"
	"github.com/plugwire/plugwire/shared/config"
)

// exactNumbers is what a plugin decodes the numbers of TestConfigNumbersExact into.
type exactNumbers struct {
	P53     int64   `json:"p53"`
	I64Max  int64   `json:"i64max"`
	I64Min  int64   `json:"i64min"`
	U64Max  uint64  `json:"u64max"`
	NegZero float64 `json:"negzero"`
	Big     float64 `json:"big"`
	Tenth   float64 `json:"tenth"`
	Int     int     `json:"int"`
}

// sayNumbers (plugin side) says, for each top-level key but "mode", the
// Go type and value that arrived, then what config.Decode made of them.
func sayNumbers(raw any, ui shared.Ui) error {
	m := raw.(map[string]any)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if k != "mode" && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		ui.Say("%s: %T %v", k, m[k], m[k])
	}
	delete(m, "mode")
	delete(m, "huge")
	var n exactNumbers
	if err := config.Decode(m, &n); err != nil {
		return err
	}
	ui.Say("decoded: %+v signbit=%v", n, math.Signbit(n.NegZero))
	return nil
}

// A config's numbers reach the plugin as written, through a real plugin
// process: a float64 where a float64 holds the number as written, else a
// json.Number with its text; config.Decode puts the int64 and uint64
// extremes and 2^53+1 into integer fields exactly.
func TestConfigNumbersExact(t *testing.T) {
	t.Parallel()
	b := startBuilder(t)
	config := map[string]any{
		"mode":    "numbers",
		"p53":     json.Number("9007199254740993"),
		"i64max":  int64(math.MaxInt64),
		"i64min":  int64(math.MinInt64),
		"u64max":  uint64(math.MaxUint64),
		"negzero": math.Copysign(0, -1),
		"big":     1e300,
		"huge":    json.Number("1e400"),
		"tenth":   0.1,
		"int":     20,
	}
	if err := b.Prepare(config); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	ui := &recUi{}
	if err := b.Run(context.Background(), nil, ui); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"say: big: float64 1e+300",
		"say: huge: json.Number 1e400",
		"say: i64max: json.Number 9223372036854775807",
		"say: i64min: float64 -9.223372036854776e+18",
		"say: int: float64 20",
		"say: negzero: float64 -0",
		"say: p53: json.Number 9007199254740993",
		"say: tenth: float64 0.1",
		"say: u64max: json.Number 18446744073709551615",
		fmt.Sprintf("say: decoded: %+v signbit=true", exactNumbers{
			P53: 9007199254740993, I64Max: math.MaxInt64, I64Min: math.MinInt64, U64Max: math.MaxUint64,
			NegZero: math.Copysign(0, -1), Big: 1e300, Tenth: 0.1, Int: 20,
		}),
	}
	if got := ui.lines_(); !reflect.DeepEqual(got, want) {
		t.Errorf("the plugin got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Keys that differ only in case and name one field are both reported by
// the plugin's config.Decode, and neither sets it; the error crosses to the
// host.
func TestConfigKeysDifferingInCase(t *testing.T) {
	t.Parallel()
	b := startBuilder(t)
	if err := b.Prepare(map[string]any{"mode": "numbers", "Int": 1, "int": 2}); err != nil {
		t.Fatal(err)
	}
	err := b.Run(context.Background(), nil, &recUi{})
	want := `Int: keys "Int" and "int" set the same field "int" (keys match it regardless of case): keep one`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run = %v, want an error saying %q", err, want)
	}
}
