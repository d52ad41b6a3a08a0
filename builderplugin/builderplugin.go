// Package builderplugin turns a shared.Builder into a plugin binary.
package builderplugin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

// Serve serves b as the "builder" plugin to the host that started this
// process and returns when the host is done. Call it from main. It is a
// plugwire.Set of one component, registered under the empty name, so the
// binary also answers "describe".
//
// A nil Builder is a programming error: Serve says so on stderr and exits 1.
func Serve(b shared.Builder) {
	if b == nil {
		fmt.Fprintf(os.Stderr, "%s: builderplugin.Serve was given a nil shared.Builder\n", filepath.Base(os.Args[0]))
		os.Exit(1)
	}
	s := plugwire.NewSet()
	s.RegisterBuilder("", b)
	s.Run()
}
