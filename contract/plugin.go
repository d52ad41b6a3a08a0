package contract

import (
	"fmt"
	"net/rpc"
	"reflect"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/sidestream"
)

// Plugin returns the go-plugin Plugin of the contract. In a plugin's main,
// impl is served: register it in a plugwire.Set as KIND/NAME
// (set.Register("communicator", "local", Communicators.Plugin(impl))). In
// a host, impl is nil and the Plugin makes clients: put it in
// host.Config.Plugins under KIND, and host.Dispense[T](client, "KIND/NAME")
// returns a T.
func (c *Contract[T]) Plugin(impl T) plugin.Plugin {
	return &contractPlugin{d: c.d, impl: any(impl)}
}

// contractPlugin is the go-plugin Plugin of a contract.
type contractPlugin struct {
	d    *desc
	impl any              // nil on a host
	side *sidestream.Side // nil: streams stay on their broker streams
}

// WithSide returns the Plugin whose servers and clients move their
// streams' bytes on connections of their own, as s says (plugwire's
// Serve and host do this; go-plugin's own serving keeps them on yamux).
func (p *contractPlugin) WithSide(s *sidestream.Side) plugin.Plugin {
	q := *p
	q.side = s
	return &q
}

// Server returns the RPC server for the implementation (plugin side).
func (p *contractPlugin) Server(b *plugin.MuxBroker) (any, error) {
	if p.impl == nil {
		return nil, fmt.Errorf("contract %s: Plugin was given a nil implementation", p.d.name)
	}
	return newServer(p.d, reflect.ValueOf(p.impl), &peer{broker: b, plugin: true, side: p.side}), nil
}

// Client returns the contract's client on c (host side).
func (p *contractPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return p.ClientWithHook(b, c, nil)
}

// ClientWithHook is Client for a host that turns the errors of calls that
// got no answer into its own (host.ErrProcessExited).
func (p *contractPlugin) ClientWithHook(b *plugin.MuxBroker, c *rpc.Client, hook func(error) error) (any, error) {
	v, err := clientValue(&peer{broker: b, side: p.side}, p.d.typ, c, nil, hook)
	if err != nil {
		return nil, err
	}
	return v.Interface(), nil
}
