package rpcconn

import (
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
)

// sessionPlugin is a plugin.Plugin whose servers join the session of the
// connection they are served on.
type sessionPlugin struct {
	plugin.Plugin
	sess *rpcx.Session
}

func (p sessionPlugin) Server(b *plugin.MuxBroker) (any, error) {
	v, err := p.Plugin.Server(b)
	if u, ok := v.(rpcx.SessionUser); ok {
		u.SetSession(p.sess)
	}
	return v, err
}

// inSession returns plugins wrapped so that the contract servers they
// dispense (and the callbacks those offer) track their calls in sess.
func inSession(plugins map[string]plugin.Plugin, sess *rpcx.Session) map[string]plugin.Plugin {
	out := make(map[string]plugin.Plugin, len(plugins))
	for name, p := range plugins {
		out[name] = sessionPlugin{Plugin: p, sess: sess}
	}
	return out
}

// finish ends the work of a connection whose host is done or gone: it
// cancels the context of every method still running and waits up to grace
// for them to return, so that a builder tearing its VM down on ctx.Done()
// gets to finish. Methods still running after grace are logged and left:
// the host kills the process then anyway. It returns how many were left.
func finish(sess *rpcx.Session, grace time.Duration, why string) int {
	sess.End()
	n := sess.Running()
	if n == 0 {
		return 0
	}
	log := rpcx.Logger()
	log.Debug("cancelled the methods still running; waiting for them to return", "why", why, "methods", n, "grace", grace.String())
	if !sess.Wait(grace) {
		n = sess.Running()
		log.Warn("methods still running when the grace period ended", "why", why, "methods", n, "grace", grace.String())
		return n
	}
	return 0
}
