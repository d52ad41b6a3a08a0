// Command command-build is the original system's own build command as a
// plugin: it reads a JSON template ({"builders": [{"type": "noop", ...}]}),
// gets each builder from the host by type, prepares it with its block, runs
// it, and exits non-zero if any failed.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/plugwire/plugwire/commandplugin"
	"github.com/plugwire/plugwire/shared"
)

// Build is the command.
type Build struct{}

// template is what Build reads.
type template struct {
	Builders []map[string]interface{} `json:"builders"`
}

// Run builds every builder of the template named by args[0].
func (Build) Run(ctx context.Context, env shared.Environment, args []string) int {
	ui := env.Ui()
	if len(args) != 1 {
		ui.Error("usage: build TEMPLATE.json")
		return 2
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		ui.Error("build: %v", err)
		return 1
	}
	var t template
	if err := json.Unmarshal(raw, &t); err != nil {
		ui.Error("build: %s is not a template: %v", args[0], err)
		return 1
	}
	if len(t.Builders) == 0 {
		ui.Error("build: %s has no builders", args[0])
		return 1
	}
	failed := 0
	for i, block := range t.Builders {
		if err := runOne(ctx, env, ui, block); err != nil {
			ui.Error("build: builder %d: %v", i, err)
			failed++
		}
	}
	if failed > 0 {
		ui.Error("build: %d of %d builds failed", failed, len(t.Builders))
		return 1
	}
	ui.Say("build: %d builds finished", len(t.Builders))
	return 0
}

// runOne gets, prepares and runs the builder a template block names.
func runOne(ctx context.Context, env shared.Environment, ui shared.Ui, block map[string]interface{}) error {
	typ, ok := block["type"].(string)
	if !ok || typ == "" {
		return fmt.Errorf("block has no \"type\" string")
	}
	b, err := env.Builder(typ)
	if err != nil {
		return fmt.Errorf("getting builder %q: %w", typ, err)
	}
	if err := b.Prepare(block); err != nil {
		return fmt.Errorf("preparing %q: %w", typ, err)
	}
	ui.Say("build: running %q", typ)
	return b.Run(ctx, &buildSteps{typ: typ}, ui)
}

// buildSteps is the Build this command hands its builders: the builder
// calls it back across the host.
type buildSteps struct{ typ string }

// Prepare has nothing to check.
func (*buildSteps) Prepare() error { return nil }

// Run reports that the builder reached its build.
func (b *buildSteps) Run(_ context.Context, ui shared.Ui) error {
	ui.Say("build: %s reached the build callback", b.typ)
	return nil
}

// Synopsis says what Build does.
func (Build) Synopsis() string { return "Build the builders of a JSON template" }

func main() {
	commandplugin.Serve(Build{})
}
