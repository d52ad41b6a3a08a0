package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/wire"
)

// ErrBadReattach is wrapped by the error of LookupReattach for a value of
// EnvReattach that does not parse or holds a bad entry, and by a start
// whose Config.Reattach is not a usable address and secret.
var ErrBadReattach = errors.New("malformed reattach value")

// LookupReattach returns the plugin in debug mode that EnvReattach names
// for the binary cmd would start, for Config.Reattach: the entry named by
// the base name of cmd.Path without .exe; for a PREFIX-NAME_vX.Y.Z
// binary, as Discover finds, the entry PREFIX-NAME (the name of a
// developer's fresh build) when there is none of the full name. It
// returns nil, nil when the variable is unset or empty, or names other
// binaries only. A value that does not parse, or an entry without a
// loopback address and a well-formed secret, is an error wrapping
// ErrBadReattach that names the variable and the entry (never the
// secret).
func LookupReattach(cmd *exec.Cmd) (*Reattach, error) {
	if cmd == nil {
		return nil, errors.New("host: LookupReattach(nil): pass the exec.Cmd of the plugin binary")
	}
	v, ok := os.LookupEnv(EnvReattach)
	if !ok || v == "" {
		return nil, nil
	}
	entries, err := wire.ParseReattach(v)
	if err != nil {
		return nil, fmt.Errorf("host: %w: %w", ErrBadReattach, err)
	}
	e, ok := reattachEntry(entries, wire.BinaryName(cmd.Path))
	if !ok {
		return nil, nil
	}
	r := Reattach(e)
	return &r, nil
}

// Reattach is a plugin already running in debug mode, for a Client to
// connect to instead of starting one: what the plugin printed for
// EnvReattach.
//
// A reattached Client connects with the same handshake as a started one,
// proving Secret. Kill hangs up and leaves the process running (it serves
// the next host); Exited reports that the connection ended, and calls
// then fail with errors wrapping ErrProcessExited that say so.
// Config.KillGrace bounds how long Kill waits for the plugin's side to
// end; Config.Cmd, when set, only names the plugin; StartTimeout bounds
// the connection and handshake; Config.SHA256 is not checked, as the host
// runs no binary. yamux's keepalive is answered on the
// host's side, so a plugin stopped at a breakpoint keeps its host for as
// long as it stays stopped. The plugin serves one Client at a time, until
// it is killed: another Client's start succeeds after up to 3 s and its
// Dispense calls fail saying the plugin is serving another Client (see
// EnvDebug).
type Reattach struct {
	Addr   string `json:"addr"`   // "127.0.0.1:PORT"
	Secret string `json:"secret"` // hex, as printed
	Pid    int    `json:"pid"`    // the plugin's process id, for messages
}

// reattachEntry returns the entry for the binary named name.
func reattachEntry[E any](entries map[string]E, name string) (E, bool) {
	e, ok := entries[name]
	if !ok {
		// A discovered binary named PREFIX-NAME_vX.Y.Z matches the
		// PREFIX-NAME a developer's fresh build runs as.
		if i := strings.LastIndex(name, "_v"); i > 0 && i+2 < len(name) && name[i+2] >= '0' && name[i+2] <= '9' {
			e, ok = entries[name[:i]]
		}
	}
	return e, ok
}

// checkReattach checks Config.Reattach, when set.
func checkReattach(r *Reattach) error {
	if r == nil {
		return nil
	}
	if err := wire.ReattachEntry(*r).Check(); err != nil {
		return fmt.Errorf("host: %w: Config.Reattach: %w", ErrBadReattach, err)
	}
	return nil
}

// warnReattach logs, once per start of the client's own process, that
// EnvReattach is set but does not apply: a name typo, or a host that
// does not opt in, would otherwise go unnoticed while the breakpoint
// never hits.
func (c *Client) warnReattach() {
	v, ok := os.LookupEnv(EnvReattach)
	if !ok || v == "" {
		return
	}
	name := c.name // wire.BinaryName(Cmd.Path)
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(v), &m) != nil {
		c.logger.Warn("starting the plugin: "+EnvReattach+" is set but does not parse, and this host does not reattach to it", "name", name)
		return
	}
	entries := slices.Sorted(maps.Keys(m))
	why := "its entries name other binaries"
	if _, ok := reattachEntry(m, name); ok {
		why = "this host does not reattach (it does not use host.LookupReattach)"
	}
	c.logger.Warn("starting the plugin although "+EnvReattach+" is set: "+why, "name", name, "entries", strings.Join(entries, ","))
}

// runAttach is the first start of a reattached Client.
func (c *Client) runAttach(parent context.Context) error {
	if c.reattachErr != nil {
		return c.reattachErr
	}
	ctx, deadline, end, err := c.begin(parent, "connected")
	if err != nil {
		return err
	}
	defer end()
	err = c.attach(ctx, deadline)
	if err != nil {
		if ctx.Err() != nil {
			err = c.stopped(parent, ctx, &attempt{deadline: deadline, phase: "handshake"})
		}
		registry.remove(c)
	}
	return err
}

// attach connects to the plugin in debug mode and completes the
// handshake, waiting for the plugin's answer: a wrong secret is reported
// here, with what to do about it.
func (c *Client) attach(ctx context.Context, deadline time.Time) error {
	r := c.reattach
	secret, err := wire.ReattachEntry(*r).ParseSecret()
	if err != nil {
		return fmt.Errorf("host: reattaching to %s: %w", c.name, err)
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isConnEnd(err) { // refused
			return fmt.Errorf("host: %w: %w: reattaching to %s: nothing answers at %s (the plugin started in debug mode as pid %d has ended, or %s is stale): %w",
				ErrProcessExited, ErrConnect, c.name, r.Addr, r.Pid, EnvReattach, err)
		}
		return fmt.Errorf("host: %w: reattaching to %s at %s: %w", ErrConnect, c.name, r.Addr, err)
	}
	stopClose := context.AfterFunc(ctx, func() { _ = raw.Close() })
	c.plugins.setSide(secret)
	conn, rpcClient, pending, err := rpcconn.Open(raw, secret, deadline, c.plugins.m, rpcconn.Debug)
	if err == nil {
		select {
		case <-pending.Done():
			err = pending.Err()
		case <-ctx.Done():
		}
		if err != nil || ctx.Err() != nil {
			_ = conn.Close()
			_ = rpcClient.Close()
		}
	}
	if !stopClose() {
		return ctx.Err()
	}
	if err != nil {
		if pending != nil && pending.Err() != nil {
			err = pending.Err()
		}
		return c.attachErr(err)
	}
	c.mu.Lock()
	c.conn, c.rpc, c.pending, c.answerDue = conn, rpcClient, pending, answerDue{by: deadline}
	c.hungUp = make(chan struct{})
	c.mu.Unlock()
	go c.watchAttached(conn, c.hungUp)
	c.logger.Debug("reattached to plugin in debug mode", "addr", r.Addr, "pid", r.Pid)
	return nil
}

// attachErr turns a failed handshake with a plugin in debug mode into the
// error a start reports.
func (c *Client) attachErr(err error) error {
	r := c.reattach
	switch {
	case errors.Is(err, wire.ErrVersionMismatch):
		return fmt.Errorf("host: %s: %w", c.name, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("host: %w: %s at %s did not answer the handshake within %v (a plugin stopped at a breakpoint answers once resumed)",
			ErrStartTimeout, c.name, r.Addr, c.cfg.StartTimeout)
	case isConnEnd(err):
		return fmt.Errorf("host: %w: %s at %s (pid %d) closed the connection during the handshake: the secret in %s is not this plugin's (it changes each time the plugin starts), or it is not a plugwire plugin in debug mode",
			ErrHandshake, c.name, r.Addr, r.Pid, EnvReattach)
	case errors.Is(err, wire.ErrHandshake):
		return fmt.Errorf("host: %s at %s: %w", c.name, r.Addr, err)
	}
	return fmt.Errorf("host: %w: %s at %s: %w", ErrHandshake, c.name, r.Addr, err)
}

// watchAttached marks a reattached Client exited once its connection has
// ended: the plugin hung up, its process ended, or Kill hung up. Once Kill
// has closed the connection (hungUp), it waits for yamux to read the end
// of it for a moment only, as Kill does for a started plugin: a yamux
// whose reading stopped never reads it.
func (c *Client) watchAttached(conn *muxconn.Conn, hungUp <-chan struct{}) {
	select {
	case <-conn.Ended():
	case <-hungUp:
		waitEnded(conn, 100*time.Millisecond)
	}
	r := c.reattach
	how := "the connection ended"
	if err := conn.Err(); err != nil {
		how += " (" + err.Error() + ")"
	}
	c.mu.Lock()
	killed := c.killed
	c.mu.Unlock()
	if killed {
		how = "Client.Kill hung up"
	}
	c.exitErr = fmt.Errorf("host: %w: %s, reattached in debug mode (pid %d at %s): %s; its process is not this host's to end",
		ErrProcessExited, c.name, r.Pid, r.Addr, how)
	registry.remove(c)
	close(c.exited)
	_ = conn.Close()
	c.logger.Debug("connection to reattached plugin ended", "how", how)
}

// hangUp is Kill for a reattached Client: it hangs up as Kill does with a
// started plugin (the write side first, so that what the plugin still
// sends arrives), waits up to KillGrace for the plugin's side to end, and
// closes the connection. The process goes on. Nothing here waits on the
// plugin beyond KillGrace: a plugin stopped at a breakpoint reads nothing,
// and a write to it can be stuck until the connection is closed.
func (c *Client) hangUp() {
	c.mu.Lock()
	conn, rpcClient, hungUp := c.conn, c.rpc, c.hungUp
	c.mu.Unlock()
	if conn == nil {
		return // never connected
	}
	_ = conn.CloseWrite()
	if !c.waitExit(c.cfg.KillGrace) {
		c.logger.Debug("reattached plugin did not end its side in time; closing", "grace", c.cfg.KillGrace)
	}
	_ = conn.Close()
	close(hungUp)
	<-c.exited
	// go-plugin's teardown asks the plugin to quit over the session that
	// is now shut down, or shutting down: it does not wait for the plugin,
	// but it waits for yamux to close every stream, which takes seconds
	// when many calls are stuck writing to a stopped plugin on a busy
	// machine (2.8 s of a Kill once, with 40). Nothing a caller sees waits
	// on it (calls failed at exited), so Kill does not either.
	go func() { _ = rpcClient.Close() }()
}
