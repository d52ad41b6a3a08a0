package plugwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-version"
	"github.com/plugwire/plugwire/internal/component"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// Set is a plugin binary serving several components: builders, commands
// and any go-plugin net/rpc plugin, each under a kind and a name. A host
// dispenses a component as "KIND/NAME" ("builder/ebs"), or as "KIND" alone
// for one registered under the empty name, so that a Set of one builder
// under the empty name is exactly what builderplugin.Serve serves. All of
// a Set's components are served over the process's one connection: a host
// may dispense several from one process or start one process per use.
//
// The zero Set is empty and ready to use, as is one from NewSet. Set
// Version and register in main, then call Run. Registering a bad kind or
// name, a nil implementation, or a name twice panics with a message naming
// it, as http.Handle does: it is a programming error in main. Registering
// is safe for concurrent use; Version is a plain field, set before Run.
type Set struct {
	// Version is the version the Set reports to describe: a semantic
	// version such as "1.4.0" or "1.4.0-dev". Hosts pick the highest
	// version of a component among the binaries that provide it. The
	// empty Version reports none. A Version that does not parse is a
	// programming error: Run says so on stderr and exits 1, and Describe
	// returns an error naming it.
	Version string

	mu      sync.Mutex
	plugins map[string]plugin.Plugin // by dispense name
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{}
}

// RegisterBuilder registers b as the builder name ("builder/NAME"; the
// empty name is dispensed as "builder").
func (s *Set) RegisterBuilder(name string, b shared.Builder) {
	if b == nil {
		panic(fmt.Sprintf("plugwire: Set.RegisterBuilder(%q) was given a nil shared.Builder", name))
	}
	s.Register(shared.BuilderPluginName, name, &shared.BuilderPlugin{Impl: b})
}

// RegisterCommand registers c as the command name ("command/NAME"; the
// empty name is dispensed as "command").
func (s *Set) RegisterCommand(name string, c shared.Command) {
	if c == nil {
		panic(fmt.Sprintf("plugwire: Set.RegisterCommand(%q) was given a nil shared.Command", name))
	}
	s.Register(shared.CommandPluginName, name, &shared.CommandPlugin{Impl: c})
}

// Register registers p, any go-plugin net/rpc plugin, as the component
// KIND/NAME: a contract's implementation is registered as
// Register(KIND, NAME, c.Plugin(impl)) (see package contract). A kind is a lower-case letter followed by lower-case letters,
// digits and dashes ("builder", "post-processor"); a name is empty or a
// letter or digit followed by letters, digits, dashes and underscores, at
// most 64 bytes each.
func (s *Set) Register(kind, name string, p plugin.Plugin) {
	if err := component.CheckKind(kind); err != nil {
		panic("plugwire: Set.Register: " + err.Error())
	}
	if err := component.CheckName(name); err != nil {
		panic(fmt.Sprintf("plugwire: Set.Register(%q, ...): %v", kind, err))
	}
	if p == nil {
		panic(fmt.Sprintf("plugwire: Set.Register(%q, %q) was given a nil plugin.Plugin", kind, name))
	}
	id := component.DispenseName(kind, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.plugins == nil {
		s.plugins = make(map[string]plugin.Plugin)
	}
	if _, dup := s.plugins[id]; dup {
		panic(fmt.Sprintf("plugwire: Set.Register: %s %q is registered twice", kind, name))
	}
	s.plugins[id] = p
}

// Describe writes to w, as one line of JSON, what BINARY describe prints:
// the Set's Version ("" when none), plugwire's wire protocol version, and
// the names of its components by kind, sorted, with the empty name for a
// component dispensed as its kind alone:
//
//	{"version":"1.4.0","protocol":4,"components":{"builder":["ebs","instance"],"command":["validate"]}}
//
// A Version that does not parse is an error naming it, and nothing is
// written.
func (s *Set) Describe(w io.Writer) error {
	if err := checkVersion(s.Version); err != nil {
		return err
	}
	return describe(w, s.Version, s.snapshot())
}

// snapshot returns a copy of the Set's components, by dispense name.
func (s *Set) snapshot() map[string]plugin.Plugin {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.plugins)
}

// checkVersion returns an error naming v when v is neither empty nor a
// semantic version.
func checkVersion(v string) error {
	if v == "" {
		return nil
	}
	if _, err := version.NewSemver(v); err != nil {
		return fmt.Errorf("plugwire.Set: Version %s is not a semantic version (like 1.4.0 or 1.4.0-dev)", wire.Quote(v))
	}
	return nil
}

// describe writes to w what describe prints for plugins served under
// their dispense names, with version. A name that is not a component's
// dispense name (a go-plugin map given to Serve may use any) is served
// but not listed: hosts cannot discover it.
func describe(w io.Writer, version string, plugins map[string]plugin.Plugin) error {
	d := component.Description{Version: version, Protocol: int(wire.ProtocolVersion), Components: map[string][]string{}}
	for id := range plugins {
		if kind, name, ok := component.SplitDispenseName(id); ok {
			d.Components[kind] = append(d.Components[kind], name)
		}
	}
	for _, names := range d.Components {
		slices.Sort(names)
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Run is what main calls. Started by a host, it serves the Set's
// components as Serve serves plugins (debug mode, PLUGWIRE_DEBUG=1,
// included) and returns when the host is done with them. With the one
// argument "describe" it prints what Describe writes on stdout
// and exits 0, without a host. Run by hand, or with any other argument, it
// prints one line on stderr saying that this is a plugin and that
// "describe" lists what it serves, and exits 1. A Set with no components,
// or whose Version does not parse, is a programming error: Run says so in
// one line on stderr, whatever the arguments, and exits 1.
func (s *Set) Run() {
	if code := s.run(os.Args[1:], os.Stdout); code >= 0 {
		os.Exit(code)
	}
}

// run runs the Set and returns -1 when the host is done, or the status to
// exit with.
func (s *Set) run(args []string, stdout io.Writer) int {
	prog := filepath.Base(os.Args[0])
	plugins := s.snapshot()
	if len(plugins) == 0 {
		fmt.Fprintf(os.Stderr, "%s: plugwire.Set.Run: the Set has no components: register some in main before Run\n", prog)
		return 1
	}
	if err := checkVersion(s.Version); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return 1
	}
	switch {
	case len(args) == 1 && args[0] == component.DescribeArg:
		return describeMain(prog, s.Version, plugins, stdout)
	case len(args) > 0:
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %s: this program is a plugwire plugin, started by a host program; run %q to list what it serves\n",
			prog, wire.Quote(args[0]), prog+" "+component.DescribeArg)
		return 1
	}
	var lifeline *wire.Lifeline
	defer endIfHostDied(&lifeline)
	if err := serve(plugins, &lifeline); err != nil {
		if errors.Is(err, wire.ErrNotStartedByHost) {
			fmt.Fprintf(os.Stderr, "%s: this program is a plugwire plugin: it is started by a host program, not by hand; run %q to list what it serves\n",
				prog, prog+" "+component.DescribeArg)
		} else {
			fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		}
		return 1
	}
	return -1
}

// describeMain answers describe for plugins with version and returns the
// status to exit with.
func describeMain(prog, version string, plugins map[string]plugin.Plugin, stdout io.Writer) int {
	if err := describe(stdout, version, plugins); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", prog, component.DescribeArg, err)
		return 1
	}
	return 0
}
