package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/wire"
)

// Start starts the plugin process and completes the handshake: when it
// returns nil the process on the plugin's port has proven this launch's
// secret, and Dispense uses that process. Config.StartTimeout bounds the
// start as well as ctx.
//
// Cancelling ctx (or reaching its deadline) ends a start in progress at
// once: the process is killed and reaped, and Start returns an error for
// which errors.Is(err, ctx.Err()) holds. Kill during a start ends it the
// same way.
//
// Start on a client that was already started (by Start or by a Dispense)
// returns the result of that first start, waiting for it if it is still
// under way: ctx then bounds only the wait. A failed start is final: make
// a new Client to try again.
func (c *Client) Start(ctx context.Context) error {
	if c.plugins == nil {
		return errZeroClient
	}
	if ctx == nil {
		return fmt.Errorf("host: Start(nil) for %s: pass a context, e.g. context.Background()", c.name)
	}
	_, err := c.start(ctx, rpcconn.Proven)
	return err
}

// start starts the plugin once and returns its RPC client. The first call
// runs the start under ctx; later calls wait for it (or for ctx). With
// rpcconn.Proven (Start) it returns only once the plugin has answered the
// handshake; with rpcconn.Eager (the first Dispense) as soon as
// go-plugin's session is open, and Dispense's reply is read after the
// answer.
func (c *Client) start(ctx context.Context, mode rpcconn.Mode) (*plugin.RPCClient, error) {
	c.startMu.Lock()
	first := !c.starting
	c.starting = true
	c.startMu.Unlock()
	if first {
		err := c.run(ctx, mode)
		if err != nil {
			c.logger.Debug("plugin failed to start", "error", err)
		}
		c.startMu.Lock()
		c.startErr = err
		c.startMu.Unlock()
		close(c.startDone)
	} else {
		select {
		case <-c.startDone:
		case <-ctx.Done():
			return nil, fmt.Errorf("host: waiting for %s to start: %w", c.name, ctx.Err())
		}
	}
	c.startMu.Lock()
	err := c.startErr
	c.startMu.Unlock()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	rpcClient, p, killed := c.rpc, c.pending, c.killed
	c.mu.Unlock()
	if killed {
		return nil, fmt.Errorf("host: %w: %s was killed by Client.Kill", ErrProcessExited, c.name)
	}
	if mode == rpcconn.Proven && !first {
		// Started by a Dispense, which did not wait for the answer.
		select {
		case <-p.Done():
		case <-ctx.Done():
			return nil, fmt.Errorf("host: waiting for %s to answer the handshake: %w", c.name, ctx.Err())
		}
		if err := c.answerErr(); err != nil {
			return nil, err
		}
	}
	return rpcClient, nil
}

// Internal causes of a start's context.
var (
	errStartDeadline = errors.New("start deadline")
	errKilled        = errors.New("killed by Client.Kill")
)

// errExited is what a step of a start returns when the process exited: the
// start then reports how, from the exit status.
var errExited = errors.New("exited")

// attempt is one launch of the plugin process within a start.
type attempt struct {
	deadline time.Time // StartTimeout after the start began; zero when none
	phase    string    // what the start waits for: "address" or "handshake"
	full     int       // how many attempts before this one found the port range full
	img      *image    // the verified binary to start; nil when there is no checksum
}

// pin returns the verified image of the binary to start when Config.SHA256
// is set, within ctx (which Kill cancels); nil otherwise.
func (c *Client) pin(ctx context.Context) (*image, error) {
	want, err := c.configSum()
	if want == nil || err != nil || c.cfg.Cmd.Err != nil {
		return nil, err // a Cmd.Err is Start's to report
	}
	c.logger.Debug("checking the binary's SHA-256 before its start", "path", c.cfg.Cmd.Path)
	img, _, err := pinFor(ctx, c.cfg.Cmd, want)
	return img, err
}

// run is the first start: it launches the process, and launches it again
// after a short randomised back-off while the plugin finds its port range
// full, until the start's deadline. Whatever fails, no process is left:
// each launch kills and reaps what it started.
func (c *Client) run(parent context.Context, mode rpcconn.Mode) error {
	if c.reattach != nil || c.reattachErr != nil {
		return c.runAttach(parent)
	}
	if err := c.check(); err != nil {
		return err
	}
	c.warnReattach()
	ctx, deadline, end, err := c.begin(parent, "started")
	if err != nil {
		return err
	}
	defer end()
	img, err := c.pin(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = c.stopped(parent, ctx, &attempt{deadline: deadline, phase: "checksum"})
		}
		registry.remove(c)
		return err
	}
	if img != nil {
		defer img.unuse()
	}

	for n := 1; ; n++ {
		a := &attempt{deadline: deadline, phase: "address", full: n - 1, img: img}
		if ctx.Err() != nil {
			err = c.stopped(parent, ctx, a)
			break
		}
		err = c.launch(ctx, a, mode)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			err = c.stopped(parent, ctx, a)
			break
		}
		if !errors.Is(err, ErrNoFreePort) {
			break
		}
		a.full = n
		if _, isFile := c.cfg.Stdin.(*os.File); c.cfg.Stdin != nil && !isFile {
			// What the first process was given of Stdin cannot be given
			// again to a second one.
			err = fmt.Errorf("%w (not started again: Config.Stdin is a reader, which a second process would not get whole)", err)
			break
		}
		wait := backoff(n)
		if !deadline.IsZero() && time.Now().Add(wait).After(deadline) {
			err = fmt.Errorf("host: %w: %s found every port of %d-%d taken in %d attempts over %v",
				ErrNoFreePort, c.name, c.cfg.MinPort, c.cfg.MaxPort, n, c.cfg.StartTimeout)
			break
		}
		c.logger.Debug("plugin found its port range full; starting it again", "attempt", n, "after", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			err = c.stopped(parent, ctx, a)
			break
		}
		c.relaunch()
	}
	registry.remove(c)
	return err
}

// begin prepares a first start: a context that Kill cancels (through
// cancelStart) and the start's deadline ends, and the client's entry in
// the registry. verb says what a Kill that came first prevented.
func (c *Client) begin(parent context.Context, verb string) (ctx context.Context, deadline time.Time, end func(), err error) {
	ctx, cancel := context.WithCancelCause(parent)
	c.mu.Lock()
	killed := c.killed
	c.cancelStart = cancel
	c.mu.Unlock()
	if killed || !registry.enter(c) {
		cancel(nil)
		return nil, time.Time{}, nil, fmt.Errorf("host: %w: %s was killed by Client.Kill (or CleanupClients) before it %s", ErrProcessExited, c.name, verb)
	}
	if c.cfg.StartTimeout < 0 {
		return ctx, time.Time{}, func() { cancel(nil) }, nil // no deadline
	}
	deadline = time.Now().Add(c.cfg.StartTimeout)
	ctx, cancelDeadline := context.WithDeadlineCause(ctx, deadline, errStartDeadline)
	return ctx, deadline, func() { cancelDeadline(); cancel(nil) }, nil
}

// backoff is how long a start waits before its attempt n+1 after a full
// port range: random, so that plugins that collided spread out, and
// growing, from up to 10 ms to up to 320 ms.
func backoff(n int) time.Duration {
	ceiling := 10 * time.Millisecond << min(n-1, 5)
	return ceiling/4 + rand.N(ceiling*3/4)
}

// relaunch makes the client ready for another launch of the same command,
// once the previous process has been reaped.
func (c *Client) relaunch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cmd, c.lifeline, c.tree, c.unpin = nil, nil, nil, nil
	c.exited = make(chan struct{})
	c.exitErr = nil
	c.tail = tail{}
}

// stopped returns the error of a start that ctx ended: the caller's
// context, Kill, or StartTimeout. The process has been killed and reaped.
func (c *Client) stopped(parent, ctx context.Context, a *attempt) error {
	if err := parent.Err(); err != nil {
		if cause := context.Cause(parent); cause != err {
			return fmt.Errorf("host: start of %s abandoned: %w: %w", c.name, err, cause)
		}
		return fmt.Errorf("host: start of %s abandoned: %w", c.name, err)
	}
	switch context.Cause(ctx) {
	case errKilled:
		if exited := c.exitedCh(); exited != nil && wire.IsClosed(exited) && c.exitErr != nil {
			return c.exitErr
		}
		return fmt.Errorf("host: %w: %s was killed by Client.Kill while starting", ErrProcessExited, c.name)
	case errStartDeadline:
		if a.phase == "address" && a.full > 0 {
			// Still starting again after a full range: that is the reason.
			return fmt.Errorf("host: %w: %s found every port of %d-%d taken in %d attempts within %v",
				ErrNoFreePort, c.name, c.cfg.MinPort, c.cfg.MaxPort, a.full, c.cfg.StartTimeout)
		}
		if a.phase == "checksum" {
			return fmt.Errorf("host: %w: checking the SHA-256 of %s took longer than %v", ErrStartTimeout, c.name, c.cfg.StartTimeout)
		}
		if a.phase == "handshake" {
			return fmt.Errorf("host: %w: %s did not complete the handshake within %v", ErrStartTimeout, c.name, c.cfg.StartTimeout)
		}
		return fmt.Errorf("host: %w: %s printed no address line within %v", ErrStartTimeout, c.name, c.cfg.StartTimeout)
	}
	return fmt.Errorf("host: start of %s abandoned: %w", c.name, context.Cause(ctx))
}
