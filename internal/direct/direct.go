// Package direct lets plugwire's own contracts (package shared) give
// package contract their implementations' hottest methods as Go func
// values, which contract's server calls without reflect.Value.Call.
//
// net/rpc runs each request in a new goroutine (2 or 4 KiB of stack, as
// the runtime's average says) and calls the contract's server through
// reflect.Value.Call: net/rpc's frames and that call's take 2.1 KiB of the
// 3.1 KiB a 4 KiB stack holds before it grows. A second reflect.Value.Call
// (1.4 KiB) to call the method does not fit, and growing the stack
// (copying every frame, ~3.5 us on a 2-core VM) cost more per call than
// anything else the contract layer did. A method called directly, with
// small arguments and results, fits, as do package contract's own frames
// on that path, which it keeps small.
package direct

import (
	"reflect"
	"sync"
)

var registry sync.Map // reflect.Type of the interface -> func(any) map[string]any

// Register gives the methods of T's implementations that contract's
// server calls directly: methods(impl) returns them by name, as method
// values (map[string]any{"Synopsis": impl.Synopsis}).
func Register[T any](methods func(impl T) map[string]any) {
	registry.Store(reflect.TypeFor[T](), func(impl any) map[string]any {
		t, ok := impl.(T)
		if !ok {
			return nil
		}
		return methods(t)
	})
}

// Methods returns the methods registered for interface t of impl, by
// name; nil when none are.
func Methods(t reflect.Type, impl any) map[string]any {
	f, ok := registry.Load(t)
	if !ok {
		return nil
	}
	return f.(func(any) map[string]any)(impl)
}
