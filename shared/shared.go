// Package shared holds plugwire's contracts, the interfaces a host and its
// plugins share, and their go-plugin Plugin implementations: BuilderPlugin
// (dispensed as "builder") and CommandPlugin (dispensed as "command").
//
// Every method is a synchronous net/rpc call. Objects passed as arguments
// (Build, Ui, Environment, and the Builder that Environment.Builder returns)
// are served back to the caller over go-plugin's MuxBroker streams of the
// same connection. Contexts cross: cancelling the caller's context cancels
// the context the other side's method got. Errors cross with their exact
// text, and errors.Is(err, context.Canceled) (or DeadlineExceeded) holds
// on the far side when it held where the error was made.
//
// This package knows nothing of processes or ports: see package host for
// starting plugins and the root package plugwire for serving them.
package shared

import (
	"net/rpc"
	"sync"

	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/internal/wire"
)

// The environment variables a host sets to tell a plugin which ports it may
// listen on (inclusive), as in the original Packer plugin protocol.
const (
	EnvMinPort = wire.EnvMinPort
	EnvMaxPort = wire.EnvMaxPort
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
// (for a plugin, its stderr, which the host forwards).
var ErrPanic = rpcx.ErrPanic

// Short names for the wire messages of internal/rpcx.
type (
	empty          = rpcx.Empty
	cancelArgs     = rpcx.CancelArgs
	synopsisReply  = rpcx.SynopsisReply
	errReply       = rpcx.ErrReply
	runArgs        = rpcx.RunArgs
	prepareArgs    = rpcx.PrepareArgs
	commandRunArgs = rpcx.CommandRunArgs
	codeReply      = rpcx.CodeReply
	idReply        = rpcx.IDReply
	cliArgs        = rpcx.CliArgs
	cliReply       = rpcx.CliReply
)

// releaser closes the callback clients a method took once it returns, which
// ends the stream and the goroutine serving it on the other side.
type releaser struct {
	mu      sync.Mutex
	clients []*rpc.Client
}

func (r *releaser) add(c *rpc.Client) {
	r.mu.Lock()
	r.clients = append(r.clients, c)
	r.mu.Unlock()
}

func (r *releaser) release() {
	r.mu.Lock()
	cs := r.clients
	r.clients = nil
	r.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}
