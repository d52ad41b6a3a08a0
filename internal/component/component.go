// Package component holds what a plugin set and its host share about
// components: the rules for kinds and names, the name a component is
// dispensed by, and the JSON a set prints for "describe".
package component

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/plugwire/plugwire/internal/wire"
)

// DescribeArg is the one command-line argument a set answers without a
// host: BINARY describe prints its Description as JSON on stdout.
const DescribeArg = "describe"

// maxIdent bounds the length of a kind or a component name.
const maxIdent = 64

// CheckKind returns an error naming kind when it is not a valid component
// kind: a lower-case letter followed by lower-case letters, digits and
// dashes, at most 64 bytes.
func CheckKind(kind string) error {
	ok := kind != "" && len(kind) <= maxIdent && kind[0] >= 'a' && kind[0] <= 'z'
	for i := 0; ok && i < len(kind); i++ {
		c := kind[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("kind %s is not valid (want a lower-case letter, then lower-case letters, digits or dashes, at most %d bytes)", wire.Quote(kind), maxIdent)
	}
	return nil
}

// CheckName returns an error naming name when it is not a valid component
// name: empty, or a letter or digit followed by letters, digits, dashes
// and underscores, at most 64 bytes.
func CheckName(name string) error {
	ok := len(name) <= maxIdent
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_')
	}
	if !ok {
		return fmt.Errorf("name %s is not valid (want empty, or a letter or digit, then letters, digits, dashes or underscores, at most %d bytes)", wire.Quote(name), maxIdent)
	}
	return nil
}

// DispenseName is the name the component KIND/NAME is dispensed by:
// "builder/ebs", or "builder" for the empty name.
func DispenseName(kind, name string) string {
	if name == "" {
		return kind
	}
	return kind + "/" + name
}

// SplitDispenseName is the inverse of DispenseName; ok is false when id
// is not the dispense name of a valid component.
func SplitDispenseName(id string) (kind, name string, ok bool) {
	kind, name, _ = strings.Cut(id, "/")
	if CheckKind(kind) != nil || CheckName(name) != nil || name == "" && strings.Contains(id, "/") {
		return "", "", false
	}
	return kind, name, true
}

// Description is what BINARY describe prints: the set's version ("" when
// none), plugwire's wire protocol version, and the names of its
// components by kind, sorted (the empty name for a component dispensed as
// its kind alone).
type Description struct {
	Version    string              `json:"version"`
	Protocol   int                 `json:"protocol"`
	Components map[string][]string `json:"components"`
}

// Parse decodes the output of describe: exactly one JSON object (white
// space around it allowed) with a protocol above zero and valid, distinct
// kinds and names (sorted here). Fields it does not know are ignored, so that
// later releases can add some.
func Parse(out []byte) (*Description, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	var d Description
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("not a JSON description: %v (output starts %s)", err, wire.Quote(string(out)))
	}
	if dec.More() || len(bytes.TrimSpace(out[dec.InputOffset():])) > 0 {
		return nil, fmt.Errorf("output goes on after the JSON description: %s", wire.Quote(string(bytes.TrimSpace(out[dec.InputOffset():]))))
	}
	if d.Protocol <= 0 {
		return nil, fmt.Errorf("description has no protocol version (\"protocol\": %d)", d.Protocol)
	}
	if len(d.Components) == 0 {
		return nil, fmt.Errorf("description lists no components")
	}
	for kind, names := range d.Components {
		if err := CheckKind(kind); err != nil {
			return nil, fmt.Errorf("description: %v", err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("description: kind %q lists no names", kind)
		}
		slices.Sort(names)
		for i, name := range names {
			if err := CheckName(name); err != nil {
				return nil, fmt.Errorf("description: %s: %v", kind, err)
			}
			if i > 0 && names[i-1] == name {
				return nil, fmt.Errorf("description: %s %q is listed twice", kind, name)
			}
		}
	}
	return &d, nil
}
