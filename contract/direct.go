package contract

import (
	"reflect"

	"github.com/plugwire/plugwire/internal/direct"
)

// directMethods returns, by method index, the methods of impl that d's
// server calls directly (registered with internal/direct, in a shape
// callDirect knows); nil when there are none.
func directMethods(d *desc, impl reflect.Value) []any {
	fns := direct.Methods(d.typ, impl.Interface())
	var out []any
	for name, f := range fns {
		m := d.methods[name]
		if m == nil || !directShape(f) || reflect.TypeOf(f) != d.typ.Method(m.index).Type {
			continue
		}
		if out == nil {
			out = make([]any, d.typ.NumMethod())
		}
		out[m.index] = f
	}
	return out
}

// noResults is what a method without results returns; never written.
var noResults = []reflect.Value{}

func directShape(f any) bool {
	switch f.(type) {
	case func() string, func(string, ...any):
		return true
	}
	return false
}

// callDirect calls f, a method of a shape directShape accepts, with its
// arguments in, as reflect.Value.Call (CallSlice for a variadic one)
// would.
func callDirect(f any, in []reflect.Value) []reflect.Value {
	switch f := f.(type) {
	case func() string:
		return []reflect.Value{reflect.ValueOf(f())}
	case func(string, ...any):
		f(in[0].String(), in[1].Interface().([]any)...)
		return noResults
	}
	panic("contract: callDirect called for a shape it does not know")
}
