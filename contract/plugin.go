package contract

import (
	"fmt"
	"net/rpc"
	"reflect"

	"github.com/hashicorp/go-plugin"
)

// Plugin returns the go-plugin Plugin of the contract. In a plugin's main,
// impl is served: register it in a plugwire.Set as KIND/NAME
// (set.Register("communicator", "local", Communicators.Plugin(impl))). In
// a host, impl is nil and the Plugin makes clients: put it in
// host.Config.Plugins under KIND, and Dispense("KIND/NAME") returns a T.
func (c *Contract[T]) Plugin(impl T) plugin.Plugin {
	return &contractPlugin{d: c.d, impl: any(impl)}
}

// Dispenser dispenses plugin objects by name, as *host.Client does.
type Dispenser interface {
	Dispense(name string) (any, error)
}

// Dispense dispenses name ("KIND/NAME") from d and returns it as a T: an
// error, rather than a failed type assertion, when what d dispenses under
// that name is not this contract's client.
func (c *Contract[T]) Dispense(d Dispenser, name string) (T, error) {
	var zero T
	raw, err := d.Dispense(name)
	if err != nil {
		return zero, err
	}
	t, ok := raw.(T)
	if !ok {
		return zero, fmt.Errorf("contract: dispensing %q gave a %T, not a %s: the host's Plugins must map its kind to this contract's Plugin(nil)", name, raw, c.d.name)
	}
	return t, nil
}

// contractPlugin is the go-plugin Plugin of a contract.
type contractPlugin struct {
	d    *desc
	impl any // nil on a host
}

// Server returns the RPC server for the implementation (plugin side).
func (p *contractPlugin) Server(b *plugin.MuxBroker) (any, error) {
	if p.impl == nil {
		return nil, fmt.Errorf("contract %s: Plugin was given a nil implementation", p.d.name)
	}
	return newServer(p.d, reflect.ValueOf(p.impl), &peer{broker: b}), nil
}

// Client returns the contract's client on c (host side).
func (p *contractPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return p.ClientWithHook(b, c, nil)
}

// ClientWithHook is Client for a host that turns the errors of calls that
// got no answer into its own (host.ErrProcessExited).
func (p *contractPlugin) ClientWithHook(b *plugin.MuxBroker, c *rpc.Client, hook func(error) error) (any, error) {
	v, err := clientValue(&peer{broker: b}, p.d.typ, c, nil, hook)
	if err != nil {
		return nil, err
	}
	return v.Interface(), nil
}
