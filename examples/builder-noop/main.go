// Command builder-noop is an example builder plugin: it keeps the config
// it is prepared with and pretends to build, saying each step it takes and
// using the Build it is given.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/plugwire/plugwire/builderplugin"
	"github.com/plugwire/plugwire/shared"
)

// Noop is the builder.
type Noop struct {
	config any
}

// Prepare keeps the config.
func (n *Noop) Prepare(raw any) error {
	n.config = raw
	return nil
}

// Run says what it was given, prepares and runs the build, and takes three
// pretend steps, stopping early when ctx is cancelled.
func (n *Noop) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	if ui == nil {
		return fmt.Errorf("builder-noop: Run needs a Ui")
	}
	ui.Say("noop: building with config %v", n.config)
	if build != nil {
		if err := build.Prepare(); err != nil {
			return fmt.Errorf("builder-noop: preparing the build: %w", err)
		}
		if err := build.Run(ctx, ui); err != nil {
			return fmt.Errorf("builder-noop: running the build: %w", err)
		}
	}
	for i, step := range []string{"create instance", "provision", "capture image"} {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		ui.Say("noop: step %d/3: %s", i+1, step)
	}
	ui.Say("noop: done")
	return nil
}

func main() {
	builderplugin.Serve(&Noop{})
}
