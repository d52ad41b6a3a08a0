package host

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/wire"
)

// Ping makes a round trip to the plugin's RPC server (go-plugin's
// Control.Ping, which every go-plugin net/rpc server answers) and returns
// nil when the plugin answered. It tells a host whether the plugin is
// alive and serving, without calling any of its components.
//
// Once the process has exited (for a reattached client, once its
// connection ended), Ping returns an error wrapping ErrProcessExited that
// says how, as soon as the host has reaped it, not after a timeout. A
// plugin that does not answer (stopped, wedged, or busy beyond ctx) makes
// Ping return an error wrapping ctx's error when ctx ends: bound Ping with
// a deadline. Ping never kills the plugin and never starts it: on a client
// not started yet it returns an error saying so; during a start it waits
// for the start (within ctx); after a failed start it returns the start's
// error. Concurrent Pings share one round trip.
func (c *Client) Ping(ctx context.Context) error {
	if c.plugins == nil {
		return errZeroClient
	}
	if ctx == nil {
		return fmt.Errorf("host: Ping(nil) for %s: pass a context, e.g. one with a deadline", c.name)
	}
	c.startMu.Lock()
	starting, done := c.starting, c.startDone
	c.startMu.Unlock()
	if !starting {
		return fmt.Errorf("host: Ping: %s is not started (Ping does not start it: call Start, or Dispense)", c.name)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("host: Ping: waiting for %s to start: %w", c.name, context.Cause(ctx))
	}
	c.startMu.Lock()
	err := c.startErr
	c.startMu.Unlock()
	if err != nil {
		return err
	}
	c.mu.Lock()
	rpcClient, killed, exited := c.rpc, c.killed, c.exited
	c.mu.Unlock()
	if wire.IsClosed(exited) {
		return c.exitErr
	}
	if killed || rpcClient == nil {
		return fmt.Errorf("host: %w: %s was killed by Client.Kill", ErrProcessExited, c.name)
	}
	call := c.pings.call(rpcClient)
	select {
	case <-call.done:
	case <-exited:
		return c.exitErr
	case <-ctx.Done():
		return fmt.Errorf("host: %s did not answer Ping: %w", c.name, context.Cause(ctx))
	}
	if call.err == nil {
		return nil
	}
	if !isTransport(call.err) {
		return fmt.Errorf("host: Ping of %s: %w", c.name, call.err)
	}
	// The connection ended: the process most likely has too. Wait for its
	// exit status, boundedly; Ping kills nothing.
	select {
	case <-exited:
		return c.exitErr
	case <-ctx.Done():
		return fmt.Errorf("host: Ping of %s: %w (the connection failed: %v)", c.name, context.Cause(ctx), call.err)
	case <-time.After(exitWait):
	}
	return fmt.Errorf("host: Ping of %s: the connection failed while the process lives: %w", c.name, call.err)
}

// pinger runs one Ping round trip at a time for a client: Pings made while
// one is under way wait for its answer, so that a health check pinging a
// stopped plugin holds one goroutine, not one per Ping.
type pinger struct {
	mu  sync.Mutex
	cur *pingCall
}

// pingCall is one round trip; err is set before done is closed.
type pingCall struct {
	done chan struct{}
	err  error
}

// call returns the round trip under way, or starts one. It ends when the
// plugin answers or the connection ends (which Kill and the process's exit
// bring about).
func (p *pinger) call(rpcClient *plugin.RPCClient) *pingCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		return p.cur
	}
	pc := &pingCall{done: make(chan struct{})}
	p.cur = pc
	go func() {
		pc.err = rpcClient.Ping()
		p.mu.Lock()
		p.cur = nil
		p.mu.Unlock()
		close(pc.done)
	}()
	return pc
}
