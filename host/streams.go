package host

import (
	"io"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
)

// Every dispensed object talks over its own yamux stream, which lives as
// long as the connection. When a yamux v0.1.2 session shuts down, the
// reader of each stream still open spins until Session.Close reaches that
// stream, and with hundreds of them Session.Close takes seconds of CPU. When
// the connection ends under it, muxconn resets every stream first; Kill
// instead closes the streams of everything dispensed before it asks the
// plugin to quit, so that the plugin closes them too and their readers
// return before the session shuts down.

// trackedPlugin is a Plugin whose dispensed objects' net/rpc clients are
// handed to track, so that the Client can close them (see release).
type trackedPlugin struct {
	plugin.Plugin
	track func(io.Closer)
}

// Client records rc, then makes the object as the wrapped Plugin does.
func (p trackedPlugin) Client(b *plugin.MuxBroker, rc *rpc.Client) (interface{}, error) {
	p.track(rc)
	return p.Plugin.Client(b, rc)
}

// trackAll returns plugins with each Plugin wrapped to report to c.
func (c *Client) trackAll(plugins map[string]plugin.Plugin) map[string]plugin.Plugin {
	m := make(map[string]plugin.Plugin, len(plugins))
	for name, p := range plugins {
		m[name] = trackedPlugin{Plugin: p, track: c.track}
	}
	return m
}

// track keeps the stream of a dispensed object until release; after
// release it is closed at once.
func (c *Client) track(s io.Closer) {
	c.mu.Lock()
	if !c.released {
		c.streams = append(c.streams, s)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	_ = s.Close()
}

// release closes the streams of every dispensed object, in Kill: later
// calls on them fail with rpc.ErrShutdown (calls in flight end when the
// plugin goes), and objects dispensed later are closed at once. It is safe
// to call more than once.
func (c *Client) release() {
	c.mu.Lock()
	streams := c.streams
	c.streams, c.released = nil, true
	c.mu.Unlock()
	for _, s := range streams {
		_ = s.Close()
	}
}
