package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/wire"
)

// launch starts the process, reads its address line, connects and sends
// the handshake (and with rpcconn.Proven, waits for its answer). On failure the
// process is killed and reaped. ctx ending kills the process at once.
func (c *Client) launch(ctx context.Context, a *attempt, mode rpcconn.Mode) error {
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

	err = c.connect(ctx, a, addrCh, secret, mode)
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
// with rpcconn.Proven it waits for the plugin's answer before go-plugin's
// session starts, and with rpcconn.Eager lets the session's first read
// check it.
func (c *Client) connect(ctx context.Context, a *attempt, addrCh <-chan string, secret wire.Secret, mode rpcconn.Mode) error {
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
	// fails with the exit, not at the answer's deadline. Unless the
	// plugin's last words are waiting to be read (an answer, or the end
	// its exit sent): they say why it failed (another version, a wrong
	// proof) better than the exit does, and get exitWait to be read.
	stopClose := context.AfterFunc(ctx, func() { _ = raw.Close() })
	handshaking := make(chan struct{})
	defer close(handshaking)
	go func(exited <-chan struct{}) {
		select {
		case <-exited:
			if peerSent(raw) {
				t := time.NewTimer(exitWait)
				defer t.Stop()
				select {
				case <-t.C:
				case <-handshaking:
					return
				}
			}
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
	c.plugins.setSide(secret)
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

// ended is the one place a start decides a failure that the connection's
// end signals (a refused dial, a connection closed or reset during the
// handshake, a session shut down while go-plugin opens it): the plugin
// process has most likely ended, so it waits, boundedly, for the exit
// status, and reports whether the process exited.
func (c *Client) ended(ctx context.Context) bool {
	t := time.NewTimer(exitWait)
	defer t.Stop()
	select {
	case <-c.exitedCh():
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// isConnEnd reports whether err says that the connection ended (closed,
// reset, refused, cut short) rather than what came over it.
func isConnEnd(err error) bool {
	for _, t := range append([]error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed}, connEndErrnos...) {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
