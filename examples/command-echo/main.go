// Command command-echo is an example command plugin: it says its arguments
// through the host's Ui and exits 0.
package main

import (
	"context"
	"strings"

	"github.com/plugwire/plugwire/commandplugin"
	"github.com/plugwire/plugwire/shared"
)

// Echo is the command.
type Echo struct{}

// Run says args, space separated.
func (Echo) Run(_ context.Context, env shared.Environment, args []string) int {
	env.Ui().Say("%s", strings.Join(args, " "))
	return 0
}

// Synopsis says what Echo does.
func (Echo) Synopsis() string { return "Echo the arguments" }

func main() {
	commandplugin.Serve(Echo{})
}
