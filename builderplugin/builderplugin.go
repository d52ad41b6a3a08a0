// Package builderplugin turns a shared.Builder into a plugin binary.
package builderplugin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

// Serve serves b as the "builder" plugin to the host that started this
// process and returns when the host is done. Call it from main.
//
// A nil Builder is a programming error: Serve says so on stderr and exits 1.
func Serve(b shared.Builder) {
	if b == nil {
		fmt.Fprintf(os.Stderr, "%s: builderplugin.Serve was given a nil shared.Builder\n", filepath.Base(os.Args[0]))
		os.Exit(1)
	}
	plugwire.Serve(map[string]plugin.Plugin{
		shared.BuilderPluginName: &shared.BuilderPlugin{Impl: b},
	})
}
