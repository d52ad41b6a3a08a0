package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// field is a struct field Decode can set, named as encoding/json
// names it.
type field struct {
	name   string
	index  []int // for reflect.Value.FieldByIndex, through embedded structs
	depth  int
	tagged bool
	quoted bool // the ",string" option on a scalar field
}

// structFields lists the fields of struct type t a config may set, with
// encoding/json's rules: exported fields, fields of embedded structs
// promoted, and of several fields with one name the shallowest, then the
// tagged one, wins (none when that leaves a tie).
func structFields(t reflect.Type) []field {
	var all []field
	seen := map[reflect.Type]bool{} // struct types expanded at a shallower depth
	type level struct {
		t     reflect.Type
		index []int
	}
	current := []level{{t: t}}
	for depth := 0; len(current) > 0; depth++ {
		var next []level
		expanded := map[reflect.Type]bool{}
		for _, l := range current {
			if seen[l.t] {
				continue
			}
			expanded[l.t] = true
			for i := range l.t.NumField() {
				sf := l.t.Field(i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(slices.Clip(l.index), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, level{t: ft, index: index})
					continue
				}
				f := field{name: name, index: index, depth: depth, tagged: name != ""}
				if name == "" {
					f.name = sf.Name
				}
				if slices.Contains(strings.Split(opts, ","), "string") {
					switch ft.Kind() {
					case reflect.Bool, reflect.String,
						reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
						reflect.Float32, reflect.Float64:
						f.quoted = true
					}
				}
				all = append(all, f)
			}
		}
		for t := range expanded {
			seen[t] = true
		}
		current = next
	}

	byName := map[string][]field{}
	var names []string
	for _, f := range all {
		if byName[f.name] == nil {
			names = append(names, f.name)
		}
		byName[f.name] = append(byName[f.name], f)
	}
	var fields []field
	for _, name := range names {
		if f, ok := dominant(byName[name]); ok {
			fields = append(fields, f)
		}
	}
	return fields
}

// dominant picks the field that wins among fields of one name.
func dominant(fs []field) (field, bool) {
	minDepth := fs[0].depth
	for _, f := range fs {
		minDepth = min(minDepth, f.depth)
	}
	var shallow, tagged []field
	for _, f := range fs {
		if f.depth == minDepth {
			shallow = append(shallow, f)
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
	}
	switch {
	case len(shallow) == 1:
		return shallow[0], true
	case len(tagged) == 1:
		return tagged[0], true
	}
	return field{}, false
}

// lookupField finds the field for key: an exact match, or else a
// case-insensitive one.
func lookupField(fields []field, key string) *field {
	for i := range fields {
		if fields[i].name == key {
			return &fields[i]
		}
	}
	for i := range fields {
		if strings.EqualFold(fields[i].name, key) {
			return &fields[i]
		}
	}
	return nil
}

// fieldByIndex returns the field of v at index, allocating the embedded
// struct pointers on the way.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, error) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, fmt.Errorf("cannot set embedded pointer to unexported struct type %v", v.Type().Elem())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}

// suggest returns the end of an unknown-key message: the key probably
// meant, or the keys there are when they are few.
func suggest(fields []field, key string) string {
	best, bestDist := "", 3 // at most two edits away
	for _, f := range fields {
		if len(key) > 64 {
			break
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(f.name)); d < bestDist {
			best, bestDist = f.name, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	switch {
	case len(fields) == 0:
		return " (this object takes no keys)"
	case len(fields) <= 8:
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.name
		}
		slices.Sort(names)
		return " (known keys: " + strings.Join(names, ", ") + ")"
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
