package host

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// checkHealth pings c every HealthInterval until stop is called (which
// waits for it) or c exits. After HealthFailures failed Pings in a row it
// kills c as Kill does, unless c is reattached: a plugin in debug mode may
// be stopped at a breakpoint, and is not the host's to end.
func (s *Supervisor) checkHealth(c *Client) (stop func()) {
	if s.o.HealthInterval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.o.HealthInterval)
		defer t.Stop()
		failed := 0
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			pctx, pcancel := context.WithTimeout(ctx, s.o.HealthTimeout)
			err := c.Ping(pctx)
			pcancel()
			switch {
			case err == nil:
				failed = 0
				continue
			case ctx.Err() != nil || errors.Is(err, ErrProcessExited):
				return // stopped, or exited: watch sees it
			}
			failed++
			if failed < s.o.HealthFailures {
				s.logger.Debug("health check failed", "failures", failed, "error", err)
				continue
			}
			if c.reattach != nil {
				s.logger.Warn("reattached plugin fails its health checks; not killing it (debug mode: it may be stopped at a breakpoint)",
					"failures", failed, "error", err)
				failed = 0
				continue
			}
			s.emit(Event{Kind: EventUnhealthy, Pid: c.pid(), Err: err})
			c.mu.Lock()
			if c.forced == "" {
				c.forced = fmt.Sprintf("it failed %d health checks in a row (the last: %v)", failed, err)
			}
			c.mu.Unlock()
			c.Kill()
			return
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
