// Package contract makes any Go interface a plugwire contract: a host and
// its plugins call it across the process boundary with everything
// plugwire's own Builder and Command get.
//
// A contract is an interface declared in a package both sides import,
// made a Contract once with New, plus a client type whose methods are one
// line each:
//
//	type Greeter interface {
//		Greet(ctx context.Context, name string) (string, error)
//	}
//
//	var Greeters = contract.New[Greeter](func(c *contract.Client) Greeter { return greeterClient{c} })
//
//	type greeterClient struct{ c *contract.Client }
//
//	func (g greeterClient) Greet(ctx context.Context, name string) (string, error) {
//		return contract.Call1[string](g.c, "Greet", ctx, name)
//	}
//
// A plugin registers an implementation in its Set as KIND/NAME
// (set.Register("greeter", "en", Greeters.Plugin(impl))), "BINARY
// describe" lists it under its kind, and a host puts Greeters.Plugin(nil)
// in host.Config.Plugins under the kind and dispenses "greeter/en"
// (host.Dispense[Greeter](client, "greeter/en")). plugwiretest.Contract serves
// one in a test's process over the real wire.
//
// # What crosses
//
//   - A context.Context as first parameter: cancelling it, or its
//     deadline passing, cancels the context the method got on the other
//     side within milliseconds, and the error stays context.Canceled or
//     context.DeadlineExceeded. The end of the connection (host.Client's
//     Kill, the host hanging up or dying) cancels every method running on
//     the plugin's side, callbacks included, which then has the host's
//     grace period to return (see package plugwire).
//   - An error as last result: a *RemoteError with the exact text, for
//     which errors.Is holds for context.Canceled, DeadlineExceeded,
//     shared.ErrPanic (a method that panicked: the plugin lives on) and
//     the contract's own sentinels (Errors) as it held where it was made.
//     A call that failed without an answer is not a RemoteError: on a host
//     it wraps host.ErrProcessExited.
//   - A parameter or result whose type is a contract interface: a live
//     object served back over the same connection (a callback), whose own
//     methods may take callbacks in turn. nil stays nil. A callback lives
//     as long as the method it was passed to: called after that method
//     returned, it fails with ErrReleased. An object a method returns
//     lives as long as the object whose method returned it.
//   - An io.Reader or io.Writer parameter: a byte stream with yamux's flow
//     control (the producer waits once 256 KiB are in flight), so bytes
//     flow as they are produced and memory stays bounded whatever the size.
//     io.EOF is exact: the method's Read returns EOF only when the caller's
//     reader did; a reader that fails makes the method's Read fail with
//     that error (its text, and errors.Is as for results), and a writer
//     that fails (a full disk) makes the method's next Write fail with
//     it. The end of the call's context stops the copy on both sides at
//     once. A method may return before it has read all of a reader: the
//     caller stops reading it then (a Read already under way finishes in
//     the background). Everything a method wrote to a writer has been
//     written to the caller's writer when the call returns.
//   - Anything else encoding/gob encodes (basic kinds in a compact binary
//     form of their own), with nil and empty slices and maps told apart
//     at the top level; a type that is or holds an interface (any,
//     map[string]any) crosses as its JSON encoding, so a string inside it
//     must be valid UTF-8: one that is not fails the call with an error
//     wrapping ErrEncoding that says where it is, rather than crossing
//     changed.
//
// # Methods without an error result
//
// Call returns the error of a failed call whatever the method's results,
// but a method whose interface has no error result cannot pass it on: its
// client line chooses what it returns instead, and should say so in its
// doc, as plugwire's own contracts do (shared.Command.Run returns 1,
// Synopsis "", and shared.Ui's Say logs the text it could not deliver at
// Warn on stderr, which a plugwire host forwards to its log). A contract
// for which that matters declares an error result.
//
// # Why reflection
//
// The server side is reflection over the interface: New reads its method
// set once, and one net/rpc method serves every method of every contract,
// so a plugin author writes no RPC server at all. Go cannot make a value
// that implements an interface at run time, so the client side is a type
// the author writes, one line per method through Call, Call1 or Call2,
// which check the arguments against the interface's method. Generics
// alone cannot walk a method set nor tell a callback parameter from a
// value; a go generate tool would write the same line per method and the
// server besides, at the cost of a build step, generated files to keep in
// step, and a tool to version. The line per method is the least a Go
// interface's client can be, and it is plain Go that go doc and an
// editor see.
package contract
