package host_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
)

func ExampleClient_Start() {
	client := host.NewClient(&host.Config{
		Cmd:    exec.Command(examplePlugin("command-echo")),
		Logger: hclog.NewNullLogger(),
	})
	defer client.Kill()

	// The start is the caller's to cancel: at the deadline the process is
	// killed and reaped, and the error wraps context.DeadlineExceeded.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		switch {
		case errors.Is(err, ctx.Err()):
			fmt.Println("gave up:", err)
		case errors.Is(err, host.ErrNotPlugin), errors.Is(err, host.ErrVersionMismatch):
			fmt.Println("not a usable plugin:", err)
		case errors.Is(err, host.ErrNoFreePort):
			fmt.Println("the port range stayed full:", err)
		default:
			fmt.Println(err)
		}
		return
	}
	fmt.Println("started and proven")
	cmd, err := client.Command() // the process Start started
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cmd.Synopsis())
	// Output:
	// started and proven
	// Echo the arguments
}
