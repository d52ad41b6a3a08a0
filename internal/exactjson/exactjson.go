// Package exactjson decodes JSON without losing a number: the one
// decoding of a builder's config, used where it crosses the wire (package
// shared) and where config.Decode re-reads JSON text.
package exactjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strconv"
	"strings"
)

// Decode decodes JSON text into an any value as shared.Builder.Prepare's
// config holds it: as encoding/json would, except that a number float64
// cannot hold as written (9007199254740993, 9223372036854775807,
// 1.00000000000000000001, 1e400) is a json.Number holding its text, not a
// float64 that silently differs from it.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid character after the top-level value")
	}
	return exactNumbers(v), nil
}

// exactNumbers replaces, in v, each json.Number that a float64 holds as
// written with that float64.
func exactNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if f, ok := exactFloat(string(v)); ok {
			return f
		}
	case map[string]any:
		for k, e := range v {
			v[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = exactNumbers(e)
		}
	}
	return v
}

// exactFloat returns the float64 of the JSON number text when that float64
// is the number as written: its shortest decimal form has the same value
// (20, 0.1, 1e300, -0), or the number is an integer the float64 equals
// exactly (-2^63, 2^60). Not so for 2^53+1, 2^63-1 or 1e400.
func exactFloat(text string) (float64, bool) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, false
	}
	neg, digits, exp, ok := splitDecimal(text)
	if !ok {
		return 0, false
	}
	sneg, sdigits, sexp, _ := splitDecimal(strconv.FormatFloat(f, 'g', -1, 64))
	if neg == sneg && digits == sdigits && (digits == "" || exp == sexp) {
		return f, true
	}
	if digits == "" || exp < 0 || len(digits)+exp > 400 { // 400 digits: beyond float64's range
		return 0, false
	}
	n, _ := new(big.Int).SetString(digits+strings.Repeat("0", exp), 10)
	if neg {
		n.Neg(n)
	}
	i, acc := new(big.Float).SetFloat64(f).Int(nil)
	return f, acc == big.Exact && i.Cmp(n) == 0
}

// splitDecimal writes the decimal number s (JSON or Go syntax) as sign,
// digits without leading or trailing zeros ("" for zero) and exponent: the
// value is digits × 10^exp. ok is false for an exponent beyond ±2^30.
func splitDecimal(s string) (neg bool, digits string, exp int, ok bool) {
	if neg = strings.HasPrefix(s, "-"); neg {
		s = s[1:]
	}
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits = strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return neg, "", 0, true
	}
	if hasExp {
		var err error
		if exp, err = strconv.Atoi(e); err != nil || exp < -1<<30 || exp > 1<<30 {
			return false, "", 0, false
		}
	}
	exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	return neg, trimmed, exp, true
}
