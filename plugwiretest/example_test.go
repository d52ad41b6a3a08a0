package plugwiretest_test

import (
	"context"
	"fmt"
	"net/rpc"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/plugwiretest"
	"github.com/plugwire/plugwire/shared"
	"github.com/plugwire/plugwire/shared/config"
)

// inTest runs f as the body of a test: t's cleanups run when f returns.
// In a real test, t is the test's own *testing.T.
func inTest(f func(t testing.TB)) {
	testing.Benchmark(func(b *testing.B) {
		if b.N == 1 { // the benchmark machinery calls again with larger N
			f(b)
		}
	})
}

// printUi prints what the plugin says.
type printUi struct{}

func (printUi) Say(format string, a ...any)   { fmt.Printf(format+"\n", a...) }
func (printUi) Error(format string, a ...any) { fmt.Printf("error: "+format+"\n", a...) }

// sizeBuilder is the plugin under test.
type sizeBuilder struct {
	config struct {
		DiskSize int `json:"disk_size"`
	}
}

func (b *sizeBuilder) Prepare(raw any) error { return config.Decode(raw, &b.config) }
func (b *sizeBuilder) Run(ctx context.Context, _ shared.Build, ui shared.Ui) error {
	ui.Say("creating a %d GB disk", b.config.DiskSize)
	return ctx.Err()
}

func ExampleBuilder() {
	inTest(func(t testing.TB) {
		b := plugwiretest.Builder(t, &sizeBuilder{})

		// The config crosses as JSON, as from a host.
		fmt.Println(b.Prepare(map[string]any{"disk_size": "20G"}))
		if err := b.Prepare(map[string]any{"disk_size": 20}); err != nil {
			t.Fatal(err)
		}
		if err := b.Run(context.Background(), nil, printUi{}); err != nil {
			t.Fatal(err)
		}
	})
	// Output:
	// disk_size: want number, got "20G"
	// creating a 20 GB disk
}

// upper is a command that shouts its arguments through the host's Ui.
type upper struct{}

func (upper) Synopsis() string { return "shout the arguments" }
func (upper) Run(_ context.Context, env shared.Environment, args []string) int {
	env.Ui().Say("%s", strings.ToUpper(strings.Join(args, " ")))
	return 0
}

// env is the host's side of a command's Environment.
type env struct{}

func (env) Builder(name string) (shared.Builder, error) {
	return nil, fmt.Errorf("no builder %q", name)
}
func (env) Cli(context.Context, []string) (int, error) { return 0, nil }
func (env) Ui() shared.Ui                              { return printUi{} }

func ExampleCommand() {
	inTest(func(t testing.TB) {
		c := plugwiretest.Command(t, upper{})
		fmt.Println(c.Synopsis())
		fmt.Println("exit code", c.Run(context.Background(), env{}, []string{"hello", "plugin"}))
	})
	// Output:
	// shout the arguments
	// HELLO PLUGIN
	// exit code 0
}

// Greeter is a contract of the author's own, in go-plugin's net/rpc style.
type Greeter interface{ Greet(name string) string }

type greeterRPC struct{ c *rpc.Client }

func (g greeterRPC) Greet(name string) string {
	var s string
	if err := g.c.Call("Plugin.Greet", name, &s); err != nil {
		return err.Error()
	}
	return s
}

type GreeterServer struct{ Impl Greeter }

func (s *GreeterServer) Greet(name string, reply *string) error {
	*reply = s.Impl.Greet(name)
	return nil
}

type GreeterPlugin struct{ Impl Greeter }

func (p *GreeterPlugin) Server(*plugin.MuxBroker) (any, error) {
	return &GreeterServer{Impl: p.Impl}, nil
}
func (*GreeterPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return greeterRPC{c: c}, nil
}

type hello struct{}

func (hello) Greet(name string) string { return "hello, " + name }

func ExampleDispense() {
	inTest(func(t testing.TB) {
		// The same map a plugin's main gives plugwire.Serve.
		plugins := map[string]plugin.Plugin{"greeter": &GreeterPlugin{Impl: hello{}}}
		g := plugwiretest.Dispense(t, plugins, "greeter").(Greeter)
		fmt.Println(g.Greet("world"))
	})
	// Output:
	// hello, world
}

func ExampleBinary() {
	inTest(func(t testing.TB) {
		// The package of a plugin's main, relative to the test's package.
		b, err := plugwiretest.Binary(t, "../examples/builder-noop").Builder()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Prepare(map[string]any{"name": "demo"}); err != nil {
			t.Fatal(err)
		}
		if err := b.Run(context.Background(), nil, printUi{}); err != nil {
			t.Fatal(err)
		}
	})
	// Output:
	// noop: building with config map[name:demo]
	// noop: step 1/3: create instance
	// noop: step 2/3: provision
	// noop: step 3/3: capture image
	// noop: done
}
