// Package host starts plugwire plugin binaries and uses what they serve.
//
// A host makes a Client per plugin binary with NewClient, starts it with
// Start (cancellable through its context; without it the first Dispense
// starts the plugin), dispenses the plugin's Builder or Command (or any
// go-plugin net/rpc plugin named in Config.Plugins), calls it as if it
// were local, and Kills the client when done. CleanupClients kills every
// client at once, for a host's exit path. A failed start or call wraps one
// of the sentinel errors (ErrStartTimeout, ErrProcessExited, ErrNotPlugin,
// ErrNoFreePort, ErrHandshake, ErrVersionMismatch), which a host tells
// apart with errors.Is.
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
package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/rpcconn"
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
		c.name = filepath.Base(c.cfg.Cmd.Path)
		if base, ok := binaryBase(runtime.GOOS, c.name); ok && base != "" {
			c.name = base // without .exe on Windows
		}
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
	return isClosed(c.exitedCh())
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

// launch starts the process, reads its address line, connects and sends
// the handshake (and with proven, waits for its answer). On failure the
// process is killed and reaped. ctx ending kills the process at once.
func (c *Client) launch(ctx context.Context, a *attempt, proven bool) error {
	secret, err := wire.NewSecret()
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	cmd := startCopy(c.cfg.Cmd)
	env := append(cmd.Env,
		wire.EnvMinPort+"="+strconv.Itoa(c.cfg.MinPort),
		wire.EnvMaxPort+"="+strconv.Itoa(c.cfg.MaxPort),
		wire.EnvSecret+"="+secret.Env(),
		wire.EnvKillGrace+"="+max(c.cfg.KillGrace, 0).String(),
	)
	if c.cfg.StartTimeout > 0 {
		// Without it the plugin waits for its host as long as it
		// waits by default.
		env = append(env, wire.EnvConnectTimeout+"="+c.cfg.StartTimeout.String())
	}
	// The lifeline: the plugin exits when its read end sees EOF, which the
	// host's death or Kill causes. The read end is the child's alone (the
	// host closes its copy once the child started); the write end is
	// never inherited.
	r, lifeline, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("host: creating lifeline pipe for %s: %w", c.name, err)
	}
	defer r.Close()
	v, err := wire.PassLifeline(cmd, r)
	if err != nil {
		_ = lifeline.Close()
		return fmt.Errorf("host: passing the lifeline to %s: %w", c.name, err)
	}
	cmd.Env = append(env, wire.EnvLifeline+"="+v)
	stdin, feed, err := stdinPipe(c.cfg.Stdin)
	if err != nil {
		_ = lifeline.Close()
		return fmt.Errorf("host: creating the stdin pipe for %s: %w", c.name, err)
	}
	if feed != nil {
		defer stdin.(*os.File).Close() // the child's copy is its own
	}
	cmd.Stdin = stdin

	addrCh := make(chan string, 1)
	stdout := &lineWriter{max: wire.MaxAddressLine + 1}
	stdout.emit = func(line string) {
		stdout.emit = c.stdoutLine
		stdout.max = maxLine
		addrCh <- line
	}
	stderr := &lineWriter{max: maxLine, emit: (&stderrLogger{l: c.logger, tail: &c.tail, plain: c.cfg.StderrLevel}).line}
	out, err := newOutputs(cmd, stdout, stderr)
	if err != nil {
		_ = lifeline.Close()
		if feed != nil {
			_ = feed.Close()
		}
		return fmt.Errorf("host: creating output pipes for %s: %w", c.name, err)
	}

	unpin := func() {}
	if a.img != nil {
		if unpin, err = a.img.prepare(cmd); err != nil {
			_ = lifeline.Close()
			out.abort()
			if feed != nil {
				_ = feed.Close()
			}
			return err
		}
	}
	prepareTree(cmd, c.cfg.TerminalGroup)
	if err := cmd.Start(); err != nil {
		unpin()
		_ = lifeline.Close()
		out.abort()
		if feed != nil {
			_ = feed.Close()
		}
		return fmt.Errorf("host: starting plugin %s: %w", c.cfg.Cmd.Path, err)
	}
	out.started()
	if feed != nil {
		go feedStdin(feed, c.cfg.Stdin)
	}
	c.mu.Lock()
	c.cmd, c.lifeline, c.tree, c.unpin = cmd, lifeline, newTree(cmd), unpin
	c.mu.Unlock()
	c.logger.Debug("plugin started", "path", c.cfg.Cmd.Path, "pid", cmd.Process.Pid)
	go c.wait(out, stdout, stderr)
	stopKill := context.AfterFunc(ctx, c.forceKill)
	defer stopKill()

	err = c.connect(ctx, a, addrCh, secret, proven)
	if err == nil && stopKill() {
		return nil
	}
	if err == nil {
		// ctx ended as the start completed: the process is being killed.
		c.dropConn()
		err = ctx.Err()
	}
	c.forceKill()
	<-c.exitedCh()
	if errors.Is(err, errExited) {
		return c.exitErr
	}
	return err
}

// connect waits for the address line, dials it and sends the handshake;
// with proven it waits for the plugin's answer before go-plugin's session
// starts, and otherwise lets the session's first read check it.
func (c *Client) connect(ctx context.Context, a *attempt, addrCh <-chan string, secret wire.Secret, proven bool) error {
	var line string
	select {
	case line = <-addrCh:
	case <-c.exitedCh():
		select {
		case line = <-addrCh: // its last words, flushed as it exited
		default:
			return errExited
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if line == wire.NoFreePortLine {
		return fmt.Errorf("host: %w: %s found every port of %d-%d taken", ErrNoFreePort, c.name, c.cfg.MinPort, c.cfg.MaxPort)
	}
	addr, err := wire.ParseAddress(line)
	if err != nil {
		return fmt.Errorf("host: %w: %s: %v", ErrNotPlugin, c.name, err)
	}
	a.phase = "handshake"
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil && c.ended(ctx) {
			return errExited
		}
		return fmt.Errorf("host: %w: %s at %s: %w", ErrConnect, c.name, addr, err)
	}
	// The handshake's reads and writes are under deadlines; ctx ending
	// closes the connection, which ends them at once. So does the
	// plugin's exit: whatever holds its port then is not this launch's
	// plugin (another process can take the port the moment the plugin
	// dies, and keep the connection without answering), so the start
	// fails with the exit, not at the answer's deadline.
	stopClose := context.AfterFunc(ctx, func() { _ = raw.Close() })
	handshaking := make(chan struct{})
	defer close(handshaking)
	go func(exited <-chan struct{}) {
		select {
		case <-exited:
			_ = raw.Close()
		case <-handshaking:
		}
	}(c.exitedCh())
	// The hello goes out now and the plugin's answer is read by yamux's
	// first read (rpcconn.Open): the host opens go-plugin's streams and
	// sends the first Dispense request while the answer is on the way,
	// which saves a round trip.
	due := answerDue{by: time.Now().Add(answerTimeout), capped: true}
	if !a.deadline.IsZero() && a.deadline.Before(due.by) {
		due = answerDue{by: a.deadline}
	}
	var (
		conn      *muxconn.Conn
		rpcClient *plugin.RPCClient
		pending   *wire.Pending
	)
	mode := rpcconn.Eager
	if proven {
		mode = rpcconn.Proven // Start: nothing but the preamble crosses before the answer
	}
	conn, rpcClient, pending, err = rpcconn.Open(raw, secret, due.by, c.plugins.m, mode)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pending == nil {
			return c.handshakeErr(ctx, err, due)
		}
		if herr := pending.Err(); herr != nil {
			return c.handshakeErr(ctx, herr, due)
		}
		// The plugin answered and its connection ended at once.
		if ctx.Err() == nil && c.ended(ctx) {
			return errExited
		}
		return fmt.Errorf("host: starting the RPC session with %s: %w", c.name, err)
	}
	if !stopClose() {
		_ = conn.Close()
		return ctx.Err()
	}
	// go-plugin's stdout and stderr streams are not read (no SyncStreams):
	// nothing crosses them, as the host reads the process's own stdout and
	// stderr, and a reader would log an error when the connection ends.
	c.mu.Lock()
	c.conn, c.rpc, c.pending, c.answerDue = conn, rpcClient, pending, due
	c.mu.Unlock()
	if c.Exited() {
		_ = conn.Close() // it died before wait could see the connection
	}
	c.logger.Debug("plugin connected", "addr", addr)
	return nil
}

// dropConn closes and forgets the connection of a start that failed late.
func (c *Client) dropConn() {
	c.mu.Lock()
	conn := c.conn
	c.conn, c.rpc, c.pending = nil, nil, nil
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// answerErr returns, after a failed Dispense, the error of the plugin's
// answer to the hello when that answer failed its check (not the plugin
// this host started, another protocol version, no answer in time), and
// nil otherwise. The plugin is then killed and every later Dispense
// returns the same error, as when start fails.
func (c *Client) answerErr() error {
	c.mu.Lock()
	p, due := c.pending, c.answerDue
	c.mu.Unlock()
	if p == nil || p.Err() == nil {
		return nil
	}
	err := c.handshakeErr(context.Background(), p.Err(), due)
	c.forceKill()
	<-c.exitedCh()
	if errors.Is(err, errExited) {
		err = c.exitErr
	}
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.startErr == nil {
		c.startErr = err
		c.logger.Debug("plugin failed to start", "error", err)
	}
	return c.startErr
}

// answerTimeout bounds how long the host waits for the plugin's answer to
// its proof, within StartTimeout. The wait must end well before yamux,
// which runs while the answer is on the way but cannot read until it has
// come, fails its first keepalive (40 s after the session starts). A
// plugwire plugin answers within a round trip, unless its machine is
// starved.
const answerTimeout = 10 * time.Second

// answerDue is when the plugin's answer to the hello is due: at the start
// deadline, or answerTimeout after connecting when that comes first
// (capped).
type answerDue struct {
	by     time.Time
	capped bool
}

// handshakeErr turns a failed preamble into the error start reports:
// errExited when the connection ended because the process did.
func (c *Client) handshakeErr(ctx context.Context, err error, due answerDue) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(due.by):
		if due.capped {
			return fmt.Errorf("host: %w: %s did not answer the handshake within %v of the host connecting", ErrStartTimeout, c.name, answerTimeout)
		}
		return fmt.Errorf("host: %w: %s did not complete the handshake within %v", ErrStartTimeout, c.name, c.cfg.StartTimeout)
	case errors.Is(err, wire.ErrVersionMismatch):
		return fmt.Errorf("host: %s: %w", c.name, err)
	case isConnEnd(err) && ctx.Err() == nil && c.ended(ctx):
		// Before ErrHandshake, which a failed send or read wraps too
		// ("sending handshake ...: broken pipe"): the plugin died.
		return errExited
	case errors.Is(err, wire.ErrHandshake):
		return fmt.Errorf("host: %s: %w", c.name, err)
	}
	return fmt.Errorf("host: %w: %s: %w", ErrHandshake, c.name, err)
}

// wait reaps the process and records how it ended.
func (c *Client) wait(out *outputs, stdout, stderr *lineWriter) {
	c.mu.Lock()
	tree := c.tree
	c.mu.Unlock()
	tree.awaitExit()
	c.mu.Lock()
	killed := c.killed
	c.mu.Unlock()
	if killed {
		tree.endGroup() // Kill ends what the plugin left running, too
	}
	err := tree.wait()
	c.unpin()
	out.drain(stdout, stderr)
	status := "exit status 0"
	if ps := c.cmd.ProcessState; ps != nil {
		status = ps.String()
	} else if err != nil {
		status = err.Error()
	}
	c.exitErr = exitError(c.name, c.cmd.Process.Pid, c.endStatus(status), c.tail.get())
	c.mu.Lock()
	conn, lifeline := c.conn, c.lifeline
	c.mu.Unlock()
	tree.release()
	if lifeline != nil {
		_ = lifeline.Close()
	}
	if conn != nil {
		registry.remove(c) // it connected: no later start will run
	}
	close(c.exited)
	if conn != nil {
		// Let yamux read what the plugin sent before it died (the end of
		// the connection then comes at a frame boundary, where muxconn
		// ends every stream), then fail the calls still waiting.
		waitEnded(conn, 250*time.Millisecond)
		_ = conn.Close()
	}
	c.logger.Debug("plugin exited", "status", status)
}

// waitEnded waits up to d for yamux to have read the end of conn.
func waitEnded(conn *muxconn.Conn, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-conn.Ended():
	case <-t.C:
	}
}

// waitExit waits up to d for the process to exit and reports whether it did.
func (c *Client) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	}
}

// forceKill kills the process, and what it started, without asking.
func (c *Client) forceKill() {
	c.mu.Lock()
	tree, conn := c.tree, c.conn
	c.mu.Unlock()
	if c.reattach != nil && conn != nil {
		_ = conn.Close() // a reattached plugin's process is not ours
		return
	}
	if tree != nil {
		tree.kill()
	}
}

// stdoutLine forwards a line the plugin wrote on stdout after its address.
func (c *Client) stdoutLine(line string) {
	if c.cfg.Stdout != nil {
		_, _ = c.cfg.Stdout.Write([]byte(line + "\n"))
		return
	}
	c.logger.Info(line, "stream", "stdout")
}

// Kill ends the plugin: it asks the plugin to quit (it closes the
// plugin's lifeline and its end of the connection: a plugwire plugin then
// cancels the contexts of its running methods and exits once they
// returned), waits up to Config.KillGrace for the process to exit (not at
// all when KillGrace is negative), then kills it and its process group
// (job object on Windows), and returns once the process is reaped and the
// connection closed: as soon as the plugin has exited, never later than
// KillGrace + 1 s. It is safe to call more than once, concurrently, and
// on a client never started. A call in flight at Kill returns an error:
// usually one wrapping ErrProcessExited, whose text says that the host
// killed it, as the plugin's side of the connection ends while its
// method's context is being cancelled; which one is not promised. A host
// that needs a method's own answer cancels that method's ctx and waits
// for it before it calls Kill.
func (c *Client) Kill() {
	c.killOnce.Do(c.kill)
	registry.remove(c)
}

func (c *Client) kill() {
	c.mu.Lock()
	c.killed = true
	cancelStart := c.cancelStart
	c.mu.Unlock()
	// A start in progress kills and reaps what it started once cancelled;
	// wait for it, so that nothing outlives Kill.
	if cancelStart != nil {
		cancelStart(errKilled)
	}
	c.startMu.Lock()
	starting := c.starting
	c.startMu.Unlock()
	if starting {
		<-c.startDone
	}
	if c.reattach != nil {
		c.hangUp()
		return
	}
	c.mu.Lock()
	cmd, rpcClient, conn, lifeline := c.cmd, c.rpc, c.conn, c.lifeline
	c.mu.Unlock()
	if cmd == nil || rpcClient == nil {
		return // never started, or its start failed and reaped it
	}
	if c.cfg.KillGrace < 0 {
		c.forceKillFor("Config.KillGrace is negative (no grace)")
	}
	quitDone := make(chan struct{})
	go func() {
		defer close(quitDone)
		// Ask the plugin to quit: close its lifeline and hang up. Only the
		// write side is closed, so that what the plugin still sends
		// arrives whole; its Serve returns and its end of the connection
		// closes. yamux then shuts the session down from its read side,
		// after muxconn reset every stream. go-plugin's Control.Quit is not
		// used: go-plugin shuts the session down from the host's side as
		// soon as Quit returns, and every stream still waiting for data
		// then spins in yamux v0.1.2 until the shutdown reaches it, which
		// took seconds with a few hundred dispensed objects.
		if lifeline != nil {
			// Asked, not dead: the plugin leaves ending its process
			// group to the host (see wait).
			_, _ = lifeline.Write([]byte{wire.QuitByte})
			_ = lifeline.Close()
		}
		_ = conn.CloseWrite()
		select {
		case <-conn.Ended():
		case <-c.exited:
			// wait closes the connection once the process is gone; a
			// yamux that stopped reading on a protocol error never sees it.
			waitEnded(conn, 100*time.Millisecond)
		}
		_ = rpcClient.Close() // go-plugin's own teardown, on a closed session
	}()
	if !c.waitExit(c.cfg.KillGrace) {
		c.logger.Debug("plugin did not quit in time; killing it", "grace", c.cfg.KillGrace)
		c.forceKillFor(fmt.Sprintf("it did not quit within Config.KillGrace (%v)", c.cfg.KillGrace))
		<-c.exited
	}
	<-quitDone
}
