package host

import (
	"errors"
	"fmt"
	"maps"
	"net/rpc"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/component"
	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/internal/sidestream"
	"github.com/plugwire/plugwire/internal/wire"
)

// pluginTable is a Client's own copy of Config.Plugins, the map go-plugin's
// RPCClient dispenses from. A plugin set's component KIND/NAME that the
// map does not name is dispensed with the Plugin of KIND, added to the map
// on first use: the default Plugins dispense any "builder/NAME" and
// "command/NAME" without being told the names. go-plugin reads the map
// without a lock, so it is written only under mu held for writing and read
// by Dispense only under mu held for reading.
type pluginTable struct {
	mu    sync.RWMutex
	m     map[string]plugin.Plugin
	given []string          // the names Config.Plugins had, sorted, for errors
	hook  func(error) error // the Client's callErr, set by Dispense
	side  *sidestream.Side  // the connection's, set before it opens
}

// newPluginTable copies m. The contracts of package contract in it make
// clients that report a call without an answer through the Client's
// callErr, as its own Builder and Command do.
func newPluginTable(m map[string]plugin.Plugin) *pluginTable {
	t := &pluginTable{m: maps.Clone(m), given: slices.Sorted(maps.Keys(m))}
	for name, p := range t.m {
		if _, ok := p.(rpcx.HookedPlugin); ok {
			t.m[name] = hookedPlugin{Plugin: p, t: t}
		}
	}
	return t
}

// setHook sets the hook hooked plugins' clients get.
func (t *pluginTable) setHook(hook func(error) error) {
	t.mu.Lock()
	if t.hook == nil {
		t.hook = hook
	}
	t.mu.Unlock()
}

// setSide sets what the streams of hooked plugins' clients need to move
// their bytes on connections of their own: the launch's secret.
func (t *pluginTable) setSide(secret wire.Secret) {
	t.mu.Lock()
	t.side = &sidestream.Side{Secret: secret}
	t.mu.Unlock()
}

// hookedPlugin is a contract's Plugin whose clients report the failures
// of their calls through the table's hook. go-plugin calls Client while
// Dispense holds the table's read lock.
type hookedPlugin struct {
	plugin.Plugin
	t *pluginTable
}

func (h hookedPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (any, error) {
	p := h.Plugin
	if sp, ok := p.(sidestream.Plugin); ok && h.t.side != nil {
		p = sp.WithSide(h.t.side)
	}
	return p.(rpcx.HookedPlugin).ClientWithHook(b, c, h.t.hook)
}

// lookup returns the Plugin that dispenses name, adding the entry for a
// component of a known kind.
func (t *pluginTable) lookup(name string) (plugin.Plugin, error) {
	t.mu.RLock()
	p, ok := t.m[name]
	var kp plugin.Plugin
	kind, _, isComponent := component.SplitDispenseName(name)
	if !ok && isComponent {
		kp = t.m[kind]
	}
	t.mu.RUnlock()
	if ok {
		return p, nil
	}
	if kp == nil {
		return nil, t.unknown(name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.m[name]; ok {
		return p, nil
	}
	t.m[name] = kp
	return kp, nil
}

// givenKey returns the key of Config.Plugins that dispenses name: name
// itself, or the KIND of a component KIND/NAME it does not name.
func (t *pluginTable) givenKey(name string) string {
	if _, ok := slices.BinarySearch(t.given, name); ok {
		return name
	}
	if kind, _, ok := component.SplitDispenseName(name); ok {
		return kind
	}
	return name
}

// dispense runs go-plugin's Dispense, which reads the map.
func (t *pluginTable) dispense(rpcClient *plugin.RPCClient, name string) (any, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return rpcClient.Dispense(name)
}

// unknown names the plugin types Config.Plugins has, not the components
// dispensed since (which lookup adds to the table).
func (t *pluginTable) unknown(name string) error {
	return fmt.Errorf("host: no plugin type %q in Config.Plugins (it has %s; a component KIND/NAME is dispensed with the plugin type KIND)", name, strings.Join(t.given, ", "))
}

// unknownType reports whether err is the plugin's answer that it has
// nothing to dispense under name. go-plugin's dispenser answers with an
// rpc.ServerError of fixed text, its only failure for an unknown name;
// nothing else carries that fact.
func unknownType(err error, name string) bool {
	var se rpc.ServerError
	return errors.As(err, &se) && string(se) == "unknown plugin type: "+name
}

// noComponent is the error of dispensing name from a plugin that does not
// serve it. It says how a set's components are named and how to list
// them, without running anything: a second run of the binary, without
// the host's arguments and environment, is not the host's to start.
func (c *Client) noComponent(name string) error {
	hint := ""
	if _, _, ok := component.SplitDispenseName(name); ok && !strings.Contains(name, "/") {
		hint = fmt.Sprintf("a plugin set's component NAME is dispensed as %q; ", name+"/NAME")
	}
	bin := "BINARY"
	if c.cfg.Cmd != nil && c.cfg.Cmd.Path != "" {
		bin = c.cfg.Cmd.Path
	}
	return fmt.Errorf("host: dispensing %q from %s: %w (%s%q lists what it serves)", name, c.name, ErrNoComponent, hint, bin+" "+component.DescribeArg)
}
