package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// stdoutUi is a Ui that prints on stdout.
type stdoutUi struct{}

func (stdoutUi) Say(format string, a ...any)   { fmt.Printf(format+"\n", a...) }
func (stdoutUi) Error(format string, a ...any) { fmt.Printf("error: "+format+"\n", a...) }

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
	if err := builder.Prepare(map[string]any{"name": "demo"}); err != nil {
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

// Dispense returns a component as the type the host uses it as; asking
// for another type is an error, not a panic.
func ExampleDispense() {
	client := host.NewClient(&host.Config{
		Cmd:    exec.Command(examplePlugin("plugin-demo")), // a plugin set
		Logger: hclog.NewNullLogger(),
	})
	defer client.Kill()

	hello, err := host.Dispense[shared.RemoteCommand](client, "command/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	synopsis, err := hello.SynopsisErr()
	fmt.Println(synopsis, err)

	_, err = host.Dispense[shared.Builder](client, "command/hello")
	fmt.Println(err)
	// Output:
	// Say hello from a plugin set <nil>
	// host: dispensing "command/hello" from plugin-demo: wrong type: it is a shared.RemoteCommand, not a shared.Builder
}

var (
	buildExamples sync.Once
	examplesDir   string
)

// examplePlugin builds the repository's example plugins once, in a
// directory of this test process's own, and returns the path of the named
// one.
func examplePlugin(name string) string {
	buildExamples.Do(func() {
		// Where there is no Go toolchain (Windows tests under Wine), the
		// plugins are built already, in PLUGWIRE_TEST_EXAMPLES.
		if dir := os.Getenv("PLUGWIRE_TEST_EXAMPLES"); dir != "" {
			examplesDir = dir
			return
		}
		dir, err := os.MkdirTemp("", "plugwire-example-plugins-")
		if err != nil {
			panic(err)
		}
		examplesDir = dir
		cmd := exec.Command("go", "build", "-o", examplesDir+string(filepath.Separator),
			"../examples/builder-noop", "../examples/command-echo", "../examples/plugin-demo")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			panic(fmt.Sprintf("building the example plugins: %v", err))
		}
	})
	return filepath.Join(examplesDir, name)
}

// removeExamples removes what examplePlugin built; TestMain calls it.
func removeExamples() {
	if examplesDir != "" {
		_ = os.RemoveAll(examplesDir)
	}
}

func ExampleDescribe() {
	d, err := host.Describe(context.Background(), examplePlugin("plugin-demo"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Version, d.Protocol, d.Components)
	// Output:
	// 1.0.0 4 map[builder:[file sleep] command:[hello] communicator:[local] provisioner:[upload]]
}

func ExampleDiscover() {
	dir := filepath.Dir(examplePlugin("plugin-demo"))
	cat, err := host.Discover(context.Background(), "plugin-", dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range cat.Components() {
		bin := strings.TrimSuffix(filepath.Base(c.Path), ".exe")
		fmt.Println(c.Kind, c.Name, c.Version, bin, c.Dispense)
	}
	for _, s := range cat.Skipped() {
		fmt.Println("skipped", s.Path, s.Reason)
	}
	// Output:
	// builder demo-file 1.0.0 plugin-demo builder/file
	// builder demo-sleep 1.0.0 plugin-demo builder/sleep
	// command demo-hello 1.0.0 plugin-demo command/hello
	// communicator demo-local 1.0.0 plugin-demo communicator/local
	// provisioner demo-upload 1.0.0 plugin-demo provisioner/upload
}

// A component found by Discover makes its client; dispensing several
// components from one client shares one process.
func ExampleComponent_NewClient() {
	dir := filepath.Dir(examplePlugin("plugin-demo"))
	cat, err := host.Discover(context.Background(), "plugin-", dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	comp, err := cat.LookupVersion("builder", "demo-sleep", "~> 1.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	client := comp.NewClient(&host.Config{Logger: hclog.NewNullLogger()})
	defer client.Kill()

	builder, err := host.Dispense[shared.Builder](client, comp.Dispense) // "builder/sleep"
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := builder.Prepare(map[string]any{"seconds": 0}); err != nil {
		fmt.Println(err)
		return
	}
	if err := builder.Run(context.Background(), nil, stdoutUi{}); err != nil {
		fmt.Println(err)
	}

	hello, err := cat.Lookup("command", "demo-hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	cmd, err := host.Dispense[shared.RemoteCommand](client, hello.Dispense) // same process
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cmd.Synopsis())
	// Output:
	// sleep: creating a pretend VM for 0s
	// sleep: done
	// sleep: deleted the pretend VM
	// Say hello from a plugin set
}
