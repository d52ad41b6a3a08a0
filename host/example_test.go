package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// stdoutUi is a Ui that prints on stdout.
type stdoutUi struct{}

func (stdoutUi) Say(format string, a ...interface{})   { fmt.Printf(format+"\n", a...) }
func (stdoutUi) Error(format string, a ...interface{}) { fmt.Printf("error: "+format+"\n", a...) }

func ExampleNewClient() {
	client := host.NewClient(&host.Config{
		Cmd:    exec.Command(examplePlugin("builder-noop")),
		Logger: hclog.NewNullLogger(),
	})
	defer client.Kill()

	builder, err := client.Builder() // starts the plugin process
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := builder.Prepare(map[string]interface{}{"name": "demo"}); err != nil {
		fmt.Println(err)
		return
	}
	if err := builder.Run(context.Background(), nil, stdoutUi{}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// noop: building with config map[name:demo]
	// noop: step 1/3: create instance
	// noop: step 2/3: provision
	// noop: step 3/3: capture image
	// noop: done
}

// echoEnv is the host's side of a command: its Ui.
type echoEnv struct{}

func (echoEnv) Builder(name string) (shared.Builder, error) {
	return nil, fmt.Errorf("no builder %q", name)
}
func (echoEnv) Cli(context.Context, []string) (int, error) { return 0, nil }
func (echoEnv) Ui() shared.Ui                              { return stdoutUi{} }

func ExampleClient_Dispense() {
	client := host.NewClient(&host.Config{
		Cmd:    exec.Command(examplePlugin("command-echo")),
		Logger: hclog.NewNullLogger(),
	})
	defer client.Kill()

	raw, err := client.Dispense("command")
	if err != nil {
		fmt.Println(err)
		return
	}
	cmd := raw.(shared.Command)
	fmt.Println(cmd.Synopsis())
	code := cmd.Run(context.Background(), echoEnv{}, []string{"hello", "from", "a", "plugin"})
	fmt.Println("exit code", code)
	// Output:
	// Echo the arguments
	// hello from a plugin
	// exit code 0
}

var (
	buildExamples sync.Once
	examplesDir   string
)

// examplePlugin builds the repository's example plugins once and returns
// the path of the named one.
func examplePlugin(name string) string {
	buildExamples.Do(func() {
		examplesDir = filepath.Join(os.TempDir(), "plugwire-example-plugins")
		cmd := exec.Command("go", "build", "-o", examplesDir+string(filepath.Separator),
			"../examples/builder-noop", "../examples/command-echo")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			panic(fmt.Sprintf("building the example plugins: %v", err))
		}
	})
	return filepath.Join(examplesDir, name)
}
