// Package bench measures plugwire against go-plugin on the same contracts
// and the same implementation code (issue 6).
//
// Every scenario runs on several sides:
//
//   - "plugwire": host.NewClient on the host, builderplugin.Serve or
//     commandplugin.Serve in the plugin: the product as users get it.
//   - "floor": go-plugin's RPCServer.ServeConn in the plugin and
//     plugin.NewRPCClient on the host over one plain loopback TCP connection,
//     with no adapter code around it (no muxconn, no preamble): the floor of
//     an unmodified go-plugin stack on plugwire's transport.
//   - "stock": go-plugin's own plugin.Serve and plugin.NewClient, with its
//     handshake, on its Unix socket.
//   - "2013": for callbacks only, the original design: net/rpc straight on
//     TCP, with a new listener and connection for every callback object.
//
// Experimental sides ("floor+muxconn", "plugwire+gmp1", ...) isolate one
// change each; see Side.
//
// The plugin processes are this binary run again: a test binary's TestMain,
// or a command's main, calls RunHelperIfRequested first. Package
// bench's tests hold the go test benchmarks; cmd/benchtable prints the
// table with per-round ratios:
//
//	go -C internal/bench test -run '^$' -bench . -benchtime=1x ./...
//	go -C internal/bench run ./cmd/benchtable
//	go -C internal/bench run ./cmd/benchtable -scenarios call,callback -sides plugwire,stock,plugwire+gmp1 -cpuprofile host.prof
//
// With HelperProfileEnv set to a directory, every plugin process writes its
// CPU profile there too.
//
// The "[ERR] yamux: Failed to write header" lines printed while the floor
// and stock sides kill their plugins are go-plugin's own behaviour (its
// yamux logs to stderr when the plugin exits before the host's session
// closes); plugwire's muxconn hides them.
package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/plugwire/plugwire/shared"
)

// DefaultSays is how many times Builder.Run calls Ui.Say when its config
// does not say otherwise.
const DefaultSays = 2000

// Synopsis is what Command.Synopsis returns on every side.
const Synopsis = "Benchmark the plugin transport"

// Builder is the shared.Builder every side serves. Prepare keeps its config
// and reads the number of lines Run says from its "says" member.
type Builder struct {
	mu     sync.Mutex
	config any
	says   int
}

// Prepare keeps config; a top-level object's numeric "says" member sets
// how many lines Run says (DefaultSays otherwise).
func (b *Builder) Prepare(config any) error {
	says := DefaultSays
	if m, ok := config.(map[string]any); ok {
		if v, ok := m["says"].(float64); ok {
			says = int(v)
		}
	}
	b.mu.Lock()
	b.config, b.says = config, says
	b.mu.Unlock()
	return nil
}

// Run says "step I of N" on ui for I from 1 to N, stopping early when ctx
// is done.
func (b *Builder) Run(ctx context.Context, _ shared.Build, ui shared.Ui) error {
	b.mu.Lock()
	n := b.says
	b.mu.Unlock()
	if ui == nil {
		return nil
	}
	for i := 1; i <= n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ui.Say("step %d of %d", i, n)
	}
	return nil
}

// Command is the shared.Command every side serves.
type Command struct{}

// Synopsis returns the constant Synopsis.
func (Command) Synopsis() string { return Synopsis }

// Run does nothing and returns 0.
func (Command) Run(context.Context, shared.Environment, []string) int { return 0 }

// CountingUi is the host's Ui on every side: it counts what it is told.
type CountingUi struct {
	says   atomic.Int64
	errors atomic.Int64
}

// Say counts one line.
func (u *CountingUi) Say(string, ...any) { u.says.Add(1) }

// Error counts one error line.
func (u *CountingUi) Error(string, ...any) { u.errors.Add(1) }

// Says returns how many lines Say got.
func (u *CountingUi) Says() int64 { return u.says.Load() }

// CheckingUi is a Ui for correctness tests: it checks that the lines of
// Builder.Run arrive complete and in order.
type CheckingUi struct {
	mu   sync.Mutex
	next int
	err  error
}

// Say checks that the text is the next expected "step I of N".
func (u *CheckingUi) Say(format string, a ...any) {
	text := fmt.Sprintf(format, a...)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.next++
	if u.err == nil && !strings.HasPrefix(text, fmt.Sprintf("step %d of ", u.next)) {
		u.err = fmt.Errorf("line %d is %q", u.next, text)
	}
}

// Error records an unexpected error line.
func (u *CheckingUi) Error(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = fmt.Errorf("unexpected Ui.Error %q", fmt.Sprintf(format, a...))
	}
}

// Result returns how many lines arrived and the first problem seen.
func (u *CheckingUi) Result() (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.next, u.err
}
