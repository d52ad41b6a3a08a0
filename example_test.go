package plugwire_test

import (
	"context"
	"os"

	"github.com/hashicorp/go-plugin"
	greeter "github.com/hashicorp/go-plugin/examples/basic/shared"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

type greeting struct{}

func (greeting) Greet() string { return "Hello!" }

// A go-plugin net/rpc plugin type served over plugwire's transport, as the
// whole main of a plugin binary. Run as "BINARY describe" it prints
// {"version":"","protocol":4,"components":{"greeter":[""]}}; run by hand,
// without a host, it prints one line on stderr explaining that and exits 1.
func ExampleServe() {
	plugwire.Serve(map[string]plugin.Plugin{
		"greeter": &greeter.GreeterPlugin{Impl: greeting{}},
	})
}

type ebs struct{}

func (ebs) Prepare(raw any) error { return nil }
func (ebs) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	ui.Say("building an EBS-backed image")
	return nil
}

type validate struct{}

func (validate) Synopsis() string { return "Check that a template is valid" }
func (validate) Run(ctx context.Context, env shared.Environment, args []string) int {
	return 0
}

// A plugin set: one binary serving two builders, a command and a
// go-plugin type of its own. What "BINARY describe" prints is what
// Describe writes.
func ExampleSet() {
	s := plugwire.NewSet()
	s.Version = "1.4.0"
	s.RegisterBuilder("ebs", ebs{})
	s.RegisterBuilder("instance", ebs{})
	s.RegisterCommand("validate", validate{})
	s.Register("greeter", "", &greeter.GreeterPlugin{Impl: greeting{}})
	if err := s.Describe(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// {"version":"1.4.0","protocol":4,"components":{"builder":["ebs","instance"],"command":["validate"],"greeter":[""]}}
}

// The whole main of a plugin set's binary. Started by a host it serves the
// components (a host dispenses "builder/ebs", "command/validate"); run as
// "BINARY describe" it prints what it serves; run by hand it says it is a
// plugin.
func ExampleSet_Run() {
	s := plugwire.NewSet()
	s.Version = "1.4.0"
	s.RegisterBuilder("ebs", ebs{})
	s.RegisterCommand("validate", validate{})
	s.Run()
}
