// Package commandplugin turns a shared.Command into a plugin binary.
package commandplugin

import (
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

// Serve serves c as the "command" plugin to the host that started this
// process and returns when the host is done. Call it from main.
func Serve(c shared.Command) {
	plugwire.Serve(map[string]plugin.Plugin{
		shared.CommandPluginName: &shared.CommandPlugin{Impl: c},
	})
}
