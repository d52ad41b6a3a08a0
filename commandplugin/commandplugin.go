// Package commandplugin turns a shared.Command into a plugin binary.
package commandplugin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

// Serve serves c as the "command" plugin to the host that started this
// process and returns when the host is done. Call it from main. It is a
// plugwire.Set of one component, registered under the empty name, so the
// binary also answers "describe".
//
// A nil Command is a programming error: Serve says so on stderr and exits 1.
func Serve(c shared.Command) {
	if c == nil {
		fmt.Fprintf(os.Stderr, "%s: commandplugin.Serve was given a nil shared.Command\n", filepath.Base(os.Args[0]))
		os.Exit(1)
	}
	s := plugwire.NewSet()
	s.RegisterCommand("", c)
	s.Run()
}
