package contract_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/host"
)

// --- The contract, in a package both sides import. ---

// Greeter greets people.
type Greeter interface {
	Greet(ctx context.Context, name string) (string, error)
}

// ErrUnknown is a sentinel of Greeter: errors.Is holds for it on the
// caller's side.
var ErrUnknown = errors.New("unknown person")

// Greeters is Greeter's contract.
var Greeters = contract.New[Greeter](func(c *contract.Client) Greeter { return greeterClient{c} },
	contract.Errors(ErrUnknown))

type greeterClient struct{ c *contract.Client }

func (g greeterClient) Greet(ctx context.Context, name string) (string, error) {
	return contract.Call1[string](g.c, "Greet", ctx, name)
}

// --- The plugin: its main registers an implementation. ---

type english struct{}

func (english) Greet(_ context.Context, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("greeting %q: %w", name, ErrUnknown)
	}
	return "Hello, " + name + "!", nil
}

func examplePlugin() { // the plugin binary's main
	var set plugwire.Set
	set.Register("greeter", "en", Greeters.Plugin(english{}))
	set.Run()
}

// --- The host: it dispenses greeter/en and calls it. ---

func Example() {
	client := host.NewClient(&host.Config{
		Cmd:     helperCmd("example"), // the plugin binary
		Plugins: map[string]plugin.Plugin{"greeter": Greeters.Plugin(nil)},
		Logger:  hclog.NewNullLogger(),
	})
	defer client.Kill()

	greeter, err := host.Dispense[Greeter](client, "greeter/en")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(greeter.Greet(context.Background(), "Ada"))
	_, err = greeter.Greet(context.Background(), "")
	fmt.Println(err, errors.Is(err, ErrUnknown))
	// Output:
	// Hello, Ada! <nil>
	// greeting "": unknown person true
}
