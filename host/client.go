// Package host starts plugwire plugin binaries and uses what they serve.
//
// A host makes a Client per plugin binary with NewClient, starts it with
// Start (cancellable through its context; without it the first Dispense
// starts the plugin), dispenses what the plugin serves, calls it as if it
// were local, and Kills the client when done. Client.Builder and
// Client.Command dispense a one-component plugin's builder or command;
// Dispense[T] dispenses anything else as a T: a plugin set's component
// (Dispense[shared.Builder](client, "builder/ebs")) or a host's own
// contract (see package contract) named in Config.Plugins. CleanupClients
// kills every client at once, for a host's exit path. A failed start or
// call wraps one of the sentinel errors (ErrStartTimeout,
// ErrProcessExited, ErrNotPlugin, ErrNoFreePort, ErrHandshake,
// ErrVersionMismatch), which a host tells apart with errors.Is.
//
// A host that runs for days holds a Supervisor (NewSupervisor) instead of
// a Client: its components outlive the plugin's process, which is
// restarted with back-off when it dies, health-checked with Client.Ping if
// asked, and given up on in a crash loop (ErrCrashLoop).
//
// A host that finds its plugins in directories uses Discover: it asks each
// binary named PREFIX+PLUGIN what it serves ("BINARY describe"), checks
// versions and checksums, and returns a Catalog whose Components make the
// Clients (one process per Client; several components dispensed from one
// Client share its process).
//
// The environment variables plugwire uses on either side are declared
// here: EnvMinPort and EnvMaxPort (the host sets them for its plugins),
// EnvDebug (a person runs a plugin by hand in debug mode) and EnvReattach
// (a person points a host at such a plugin).
package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// Client is one plugin process and its connection. It is safe for
// concurrent use. The process is started by Start, or by the first
// Dispense.
//
// Make a Client with NewClient: the zero value is not usable (its Start
// and Dispense return an error saying so; Kill and Exited do nothing).
type Client struct {
	// The client's lifecycle, one state after another:
	//
	//   new       NewClient made it; nothing runs (starting is false).
	//   starting  the first Start or Dispense runs the start (start.go):
	//             each launch (launch.go) starts the process, reads its
	//             address line, connects and sends the handshake; a full
	//             port range makes it launch again (relaunch). Kill or
	//             ctx cancels it through cancelStart.
	//   running   startDone closed, startErr nil: cmd, conn and rpc are
	//             the live process's; Dispense and calls use them. A call
	//             whose connection is gone while the process lives kills
	//             it (callErr, forceKillFor).
	//   failed    startDone closed, startErr set: final, no process left.
	//   exited    the process was reaped (wait, exit.go): exited closed,
	//             exitErr says how; every call fails with it.
	//   killed    Kill (kill.go) set killed: it asks the plugin to quit,
	//             forces it after KillGrace, and returns once exited.
	//
	// A reattached client connects instead of launching (attach) and is
	// exited when its connection ends (watchAttached); Kill hangs up.
	cfg    Config
	name   string // the plugin's name in logs and errors
	logger hclog.Logger
	gen    uint64 // the registry's generation when the client was made

	plugins *pluginTable // Config.Plugins, and components added on use

	startMu   sync.Mutex // guards starting and startErr
	starting  bool
	startErr  error
	startDone chan struct{} // closed once the first start has finished

	mu          sync.Mutex // guards the fields below
	killed      bool
	forced      string                  // why the host killed the process without asking
	cancelStart context.CancelCauseFunc // ends a start in progress
	cmd         *exec.Cmd
	tree        *procTree // cmd and what it starts
	lifeline    *os.File
	unpin       func() // releases what started the process from a verified copy
	conn        *muxconn.Conn
	rpc         *plugin.RPCClient
	pending     *wire.Pending // the preamble; its answer is read by conn's first Read
	answerDue   answerDue     // when the answer is due

	reattach    *Reattach     // a plugin in debug mode to connect to instead of starting Cmd
	hungUp      chan struct{} // a reattached client's Kill closed the connection
	reattachErr error         // why Config.Reattach is unusable

	exited  chan struct{} // closed once the process is reaped
	exitErr error         // how it ended; set before exited is closed
	tail    tail

	killOnce sync.Once
	pings    pinger // Ping's round trip under way
}

// NewClient returns a client for the plugin cfg describes. Nothing is
// started until Start or the first Dispense; a bad Config is reported
// there.
func NewClient(cfg *Config) *Client {
	c := &Client{exited: make(chan struct{}), startDone: make(chan struct{})}
	if cfg != nil {
		c.cfg = *cfg
	}
	c.name = "plugin"
	if c.cfg.Cmd != nil {
		c.name = wire.BinaryName(c.cfg.Cmd.Path)
	}
	if c.cfg.MinPort == 0 {
		c.cfg.MinPort = DefaultMinPort
	}
	if c.cfg.MaxPort == 0 {
		c.cfg.MaxPort = DefaultMaxPort
	}
	if c.cfg.StartTimeout == 0 {
		c.cfg.StartTimeout = DefaultStartTimeout
	}
	if c.cfg.KillGrace == 0 {
		c.cfg.KillGrace = DefaultKillGrace
	}
	if c.cfg.Plugins == nil {
		c.cfg.Plugins = map[string]plugin.Plugin{
			shared.BuilderPluginName: &shared.BuilderPlugin{},
			shared.CommandPluginName: &shared.CommandPlugin{},
		}
	}
	c.plugins = newPluginTable(c.cfg.Plugins)
	c.reattach, c.reattachErr = c.cfg.Reattach, checkReattach(c.cfg.Reattach)
	c.logger = c.cfg.Logger
	if c.logger == nil {
		c.logger = hclog.New(&hclog.LoggerOptions{Name: "plugwire", Level: hclog.Info})
	}
	c.logger = c.logger.Named(c.name)
	c.gen = registry.generation()
	return c
}

// errZeroClient is what a zero Client's Start and Dispense return.
var errZeroClient = errors.New("host: the zero host.Client is not usable: make a Client with host.NewClient")

// Exited reports whether the plugin process has exited (and been reaped);
// for a reattached plugin (see Reattach), whether the connection ended.
func (c *Client) Exited() bool {
	return wire.IsClosed(c.exitedCh())
}

// exitedCh is the channel closed once the current process is reaped.
func (c *Client) exitedCh() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited
}

// check validates the configuration.
func (c *Client) check() error {
	cmd := c.cfg.Cmd
	switch {
	case cmd == nil:
		return errors.New("host: Config.Cmd is nil: it names the plugin binary to start")
	case cmd.Process != nil:
		return fmt.Errorf("host: Config.Cmd for %s was already started; give each Client a fresh exec.Cmd", cmd.Path)
	case cmd.Stdout != nil || cmd.Stderr != nil:
		return fmt.Errorf("host: Config.Cmd for %s has Stdout or Stderr set; plugwire reads them (use Config.Stdout and Config.Logger)", cmd.Path)
	case cmd.Stdin != nil:
		return fmt.Errorf("host: Config.Cmd for %s has Stdin set; plugwire sets it (use Config.Stdin)", cmd.Path)
	}
	if err := wire.CheckPortRange(c.cfg.MinPort, c.cfg.MaxPort); err != nil {
		return fmt.Errorf("host: Config.%v", err)
	}
	_, err := c.configSum()
	return err
}

// stdoutLine forwards a line the plugin wrote on stdout after its address.
func (c *Client) stdoutLine(line string) {
	if c.cfg.Stdout != nil {
		_, _ = c.cfg.Stdout.Write([]byte(line + "\n"))
		return
	}
	c.logger.Info(line, "stream", "stdout")
}
