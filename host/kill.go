package host

import (
	"fmt"
	"time"

	"github.com/plugwire/plugwire/internal/wire"
)

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
		// after muxconn reset every stream. Not go-plugin's Control.Quit,
		// which shuts the session down from the host's side while
		// dispensed objects' streams still wait for data (see
		// docs/lifecycle.md).
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

// forceKillFor kills the process (and what it started, see procTree)
// without asking, and records why for the error that reports its end.
func (c *Client) forceKillFor(why string) {
	exited := c.Exited()
	c.mu.Lock()
	if c.forced == "" && !exited {
		c.forced = why
	}
	c.mu.Unlock()
	c.forceKill()
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
