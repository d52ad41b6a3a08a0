package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
)

func ExampleNewSupervisor() {
	events := make(chan host.Event, 16)
	sup := host.NewSupervisor(&host.Config{
		Cmd:    exec.Command(examplePlugin("builder-noop")),
		Logger: hclog.NewNullLogger(),
	}, &host.SupervisorOptions{
		HealthInterval: 10 * time.Second, // Ping it; kill and restart it after 3 failures
		OnEvent:        func(e host.Event) { events <- e },
	})
	defer sup.Kill()

	builder, err := sup.Builder() // starts the plugin process
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := builder.Prepare(map[string]any{"name": "demo"}); err != nil {
		fmt.Println(err)
		return
	}
	started := <-events
	fmt.Println(started.Kind)

	// The plugin crashes (here: it is killed) between two builds.
	p, _ := os.FindProcess(started.Pid)
	_ = p.Kill()
	fmt.Println((<-events).Kind)

	// The next call waits for the restart; the builder's config is sent
	// to the new process before it.
	if err := builder.Run(context.Background(), nil, stdoutUi{}); err != nil {
		fmt.Println(err)
	}
	fmt.Println((<-events).Kind, (<-events).Kind)
	// Output:
	// started
	// exited
	// noop: building with config map[name:demo]
	// noop: step 1/3: create instance
	// noop: step 2/3: provision
	// noop: step 3/3: capture image
	// noop: done
	// restarting started
}

func ExampleClient_Ping() {
	client := host.NewClient(&host.Config{
		Cmd:    exec.Command(examplePlugin("builder-noop")),
		Logger: hclog.NewNullLogger(),
	})
	defer client.Kill()
	if err := client.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("ping:", client.Ping(ctx))
	// Output:
	// ping: <nil>
}
