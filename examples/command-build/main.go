// Command command-build is the original system's own build command as a
// plugin: it reads a JSON template ({"builders": [{"type": "noop", ...}]}),
// and runs every build at once: it gets each builder from the host by
// type (the host starts a process per builder), prepares it with its
// block, and runs it, prefixing every line a build says with the build's
// name (its "name", or its type). Cancelled (Ctrl-C in the host), it
// waits for every builder to clean up. It exits non-zero if any build
// failed.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/plugwire/plugwire/commandplugin"
	"github.com/plugwire/plugwire/shared"
)

// Build is the command.
type Build struct{}

// template is what Build reads.
type template struct {
	Builders []map[string]any `json:"builders"`
}

// Run builds every builder of the template named by args[0], in parallel.
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
	names, err := buildNames(t.Builders)
	if err != nil {
		ui.Error("build: %s: %v", args[0], err)
		return 1
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for i, block := range t.Builders {
		wg.Go(func() {
			pui := &prefixUi{prefix: names[i], ui: ui}
			if err := runOne(ctx, env, pui, block); err != nil {
				pui.Error("build failed: %v", err)
				mu.Lock()
				failed = append(failed, names[i])
				mu.Unlock()
				return
			}
			pui.Say("build finished")
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		ui.Error("build: %d of %d builds failed: %v", len(failed), len(t.Builders), failed)
		return 1
	}
	if len(t.Builders) == 1 {
		ui.Say("build: 1 build finished")
	} else {
		ui.Say("build: %d builds finished", len(t.Builders))
	}
	return 0
}

// buildNames names each block by its "name", or its "type"; names must
// be distinct, as they prefix the builds' output.
func buildNames(blocks []map[string]any) ([]string, error) {
	names := make([]string, len(blocks))
	seen := map[string]int{}
	for i, b := range blocks {
		name, _ := b["name"].(string)
		if name == "" {
			name, _ = b["type"].(string)
		}
		if name == "" {
			return nil, fmt.Errorf("builder %d has neither a \"name\" nor a \"type\" string", i)
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("builders %d and %d are both named %q; give them distinct \"name\"s", j, i, name)
		}
		seen[name] = i
		names[i] = name
	}
	return names, nil
}

// runOne gets, prepares and runs the builder a template block names.
func runOne(ctx context.Context, env shared.Environment, ui shared.Ui, block map[string]any) error {
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
	ui.Say("running builder %q", typ)
	return b.Run(ctx, &buildSteps{typ: typ}, ui)
}

// prefixUi prefixes every line with a build's name, as Packer does.
type prefixUi struct {
	prefix string
	ui     shared.Ui
}

func (u *prefixUi) Say(format string, a ...any) {
	u.ui.Say("%s: %s", u.prefix, fmt.Sprintf(format, a...))
}

func (u *prefixUi) Error(format string, a ...any) {
	u.ui.Error("%s: %s", u.prefix, fmt.Sprintf(format, a...))
}

// buildSteps is the Build this command hands its builders: the builder
// calls it back across the host.
type buildSteps struct{ typ string }

// Prepare has nothing to check.
func (*buildSteps) Prepare() error { return nil }

// Run reports that the builder reached its build.
func (b *buildSteps) Run(_ context.Context, ui shared.Ui) error {
	ui.Say("%s reached the build callback", b.typ)
	return nil
}

// Synopsis says what Build does.
func (Build) Synopsis() string { return "Run the builds of a JSON template in parallel" }

func main() {
	commandplugin.Serve(Build{})
}
