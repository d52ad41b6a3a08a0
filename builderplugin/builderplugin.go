// Package builderplugin turns a shared.Builder into a plugin binary.
package builderplugin

import (
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

// Serve serves b as the "builder" plugin to the host that started this
// process and returns when the host is done. Call it from main.
func Serve(b shared.Builder) {
	plugwire.Serve(map[string]plugin.Plugin{
		shared.BuilderPluginName: &shared.BuilderPlugin{Impl: b},
	})
}
