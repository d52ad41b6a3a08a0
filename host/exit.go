package host

import (
	"fmt"
	"time"

	"github.com/plugwire/plugwire/internal/muxconn"
)

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
	pid := c.cmd.Process.Pid // c.cmd is the next launch's once exited is closed
	c.exitErr = exitError(c.name, pid, c.endStatus(status), c.tail.get())
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
	c.logger.Debug("plugin exited", "pid", pid, "status", status)
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

// endStatus says how the process ended, given its exit status: the exit
// status alone when it ended on its own, and who ended it otherwise, so
// that a plugin ended by Kill is not reported as "exit status 0".
func (c *Client) endStatus(status string) string {
	c.mu.Lock()
	killed, forced := c.killed, c.forced
	c.mu.Unlock()
	switch {
	case killed && forced != "":
		return fmt.Sprintf("killed by the host (Client.Kill): %s; %s", forced, status)
	case killed:
		return fmt.Sprintf("killed by the host (Client.Kill); %s", status)
	case forced != "":
		return fmt.Sprintf("killed by the host: %s; %s", forced, status)
	}
	return status
}
