package plugwire_test

import (
	"github.com/hashicorp/go-plugin"
	greeter "github.com/hashicorp/go-plugin/examples/basic/shared"
	"github.com/plugwire/plugwire"
)

type greeting struct{}

func (greeting) Greet() string { return "Hello!" }

// A go-plugin net/rpc plugin type served over plugwire's transport, as the
// whole main of a plugin binary. Run by hand, without a host, it prints one
// line on stderr explaining that and exits 1.
func ExampleServe() {
	plugwire.Serve(map[string]plugin.Plugin{
		"greeter": &greeter.GreeterPlugin{Impl: greeting{}},
	})
}
