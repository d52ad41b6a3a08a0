// Package shared holds plugwire's contracts, the interfaces a host and its
// plugins share, and their go-plugin Plugin implementations: BuilderPlugin
// (dispensed as "builder") and CommandPlugin (dispensed as "command").
//
// Each is a contract of package contract, which carries every call: objects
// passed as arguments (Build, Ui, Environment, and the Builder that
// Environment.Builder returns) are served back to the caller over
// go-plugin's MuxBroker streams of the same connection, and may be
// arguments of a host author's own contracts too (a provisioner that takes
// a Ui). Contexts cross: cancelling the caller's context cancels
// the context the other side's method got. Errors cross with their exact
// text, and errors.Is(err, context.Canceled) (or DeadlineExceeded) holds
// on the far side when it held where the error was made.
//
// A builder decodes the config its Prepare receives with package
// shared/config. This package knows nothing of processes or ports: see
// package host for starting plugins and the root package plugwire for
// serving them.
package shared

import (
	"github.com/plugwire/plugwire/contract"
)

// Names under which BuilderPlugin and CommandPlugin are dispensed.
const (
	BuilderPluginName = "builder"
	CommandPluginName = "command"
)

// ErrPanic is wrapped by the error a call returns when the method it called
// on the other side panicked: errors.Is(err, shared.ErrPanic) holds on the
// caller's side. The error's text keeps the panic value ("panic in
// Builder.Run: ..."); the stack goes to the log of the side that panicked
// (for a plugin, its stderr, which the host forwards). It is
// contract.ErrPanic, for every contract.
var ErrPanic = contract.ErrPanic
