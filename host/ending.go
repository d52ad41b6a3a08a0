package host

import "fmt"

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
