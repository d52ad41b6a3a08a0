package host

import (
	"cmp"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/plugwire/plugwire/internal/wire"
)

// ErrNoComponent is wrapped by the error of a Catalog lookup that finds no
// component of that kind and name, or none whose version satisfies the
// constraint.
var ErrNoComponent = errors.New("no such component")

// Component is one component of a discovered plugin binary.
type Component struct {
	Kind, Name string // "builder", "amazon-ebs"
	Path       string // the binary
	Dispense   string // what to dispense from it: "builder/ebs", or "builder"
	Version    string // "" when the binary reports none
	SHA256     string // the binary's checksum from its sidecar file, checked again at start; "" when none
}

// NewClient returns a client for the component's binary: cfg (nil means
// the zero Config) with Cmd defaulting to a command for Path (run as the
// file found, never looked up in PATH) and SHA256 to the component's, so
// that what starts is checked against the sidecar's checksum as
// Config.SHA256 says. Each call makes a new client and so a new process:
// dispense several components from one client to share a process.
func (c Component) NewClient(cfg *Config) *Client {
	var cc Config
	if cfg != nil {
		cc = *cfg
	}
	if cc.Cmd == nil {
		cc.Cmd = exec.Command(execPath(c.Path))
	}
	if cc.SHA256 == "" {
		cc.SHA256 = c.SHA256
	}
	return NewClient(&cc)
}

// String is "builder amazon-ebs 1.2.0 (/path/to/binary)".
func (c Component) String() string {
	v := c.Version
	if v == "" {
		v = "(no version)"
	}
	return fmt.Sprintf("%s %s %s (%s)", c.Kind, c.Name, v, c.Path)
}

// listing is a component with its place in discovery.
type listing struct {
	Component
	ver   *version.Version // nil when unversioned
	order int
}

// Catalog is what Discover found: components by kind and name, several
// binaries possibly providing the same one, and what it skipped.
type Catalog struct {
	all      []listing // sorted by kind, name, then best first
	skipped  []Skipped
	rejected []rejected // the binaries among skipped, for lookups to say why
}

// rejected is a plugin binary Discover skipped: what it could have served.
type rejected struct {
	Skipped
	plugin string       // its plugin name, from its file name
	desc   *Description // what it described, when it got that far
}

// couldServe reports whether the binary, had it not been skipped, might
// have provided kind/name: as it described itself, or, when it did not,
// as its file name allows (the plugin "acme" serves "acme" and "acme-*").
func (r rejected) couldServe(kind, name string) bool {
	if r.desc == nil {
		return name == r.plugin || strings.HasPrefix(name, r.plugin+"-")
	}
	for _, n := range r.desc.Components[kind] {
		full := r.plugin
		if n != "" {
			full += "-" + n
		}
		if full == name {
			return true
		}
	}
	return false
}

func (c *Catalog) add(es []listing) {
	for _, e := range es {
		if e.Version != "" {
			e.ver, _ = version.NewSemver(e.Version) // checked by describe
		}
		c.all = append(c.all, e)
	}
}

// sort orders the entries: by kind, by name, then the highest version
// first (unversioned last), then the first found.
func (c *Catalog) sort() {
	slices.SortStableFunc(c.all, func(a, b listing) int {
		if n := cmp.Compare(a.Kind, b.Kind); n != 0 {
			return n
		}
		if n := cmp.Compare(a.Name, b.Name); n != 0 {
			return n
		}
		switch {
		case a.ver != nil && b.ver != nil:
			if n := b.ver.Compare(a.ver); n != 0 {
				return n
			}
		case a.ver != nil:
			return -1
		case b.ver != nil:
			return 1
		}
		return cmp.Compare(a.order, b.order)
	})
}

// Merge returns a catalog of c's components and others', as if found in
// one Discover (c's first: they win ties of equal versions), for a host
// that discovers several prefixes.
func (c *Catalog) Merge(others ...*Catalog) *Catalog {
	m := &Catalog{}
	offset := 0
	for _, cat := range append([]*Catalog{c}, others...) {
		if cat == nil {
			continue
		}
		last := 0
		for _, e := range cat.all {
			e.order += offset
			last = max(last, e.order+1)
			m.all = append(m.all, e)
		}
		offset += last
		m.skipped = append(m.skipped, cat.skipped...)
		m.rejected = append(m.rejected, cat.rejected...)
	}
	m.sort()
	return m
}

// Lookup returns the component kind/name of the highest version (any
// version, unversioned last). It wraps ErrNoComponent when there is none.
func (c *Catalog) Lookup(kind, name string) (Component, error) {
	return c.LookupVersion(kind, name, "")
}

// LookupVersion returns the component kind/name of the highest version
// that satisfies constraint, a hashicorp/go-version constraint such as
// "~> 1.4" or ">= 1.2, < 2.0"; "" accepts any version, and no other
// constraint accepts an unversioned binary. It wraps ErrNoComponent when
// no component matches, and ErrBadConstraint for a constraint it cannot
// read. When binaries that could have provided the component were
// skipped by Discover, the error says so with each one's reason, and
// wraps each one's Skipped.Err too (errors.Is finds ErrChecksum, for
// one).
func (c *Catalog) LookupVersion(kind, name, constraint string) (Component, error) {
	var cons version.Constraints
	if constraint != "" {
		var err error
		if cons, err = version.NewConstraint(constraint); err != nil {
			return Component{}, fmt.Errorf("host: %w %s for %s %q: %v", ErrBadConstraint, wire.Quote(constraint), kind, name, err)
		}
	}
	var versions []string
	if c == nil {
		c = &Catalog{}
	}
	for _, e := range c.all {
		if e.Kind != kind || e.Name != name {
			continue
		}
		if cons == nil || e.ver != nil && cons.Check(e.ver) {
			return e.Component, nil
		}
		versions = append(versions, fmt.Sprintf("%s in %s", cmp.Or(e.Version, "no version"), e.Path))
	}
	if len(versions) > 0 {
		return Component{}, c.noComponent(kind, name, fmt.Sprintf("no %s %q matches %s (found %s)", kind, name, wire.Quote(constraint), strings.Join(versions, ", ")))
	}
	var names []string
	for _, e := range c.Components() {
		if e.Kind == kind {
			names = append(names, e.Name)
		}
	}
	have := "none was found"
	if len(names) > 0 {
		have = "found " + strings.Join(names, ", ")
	}
	return Component{}, c.noComponent(kind, name, fmt.Sprintf("no %s %q (%s)", kind, name, have))
}

// noComponent is the error of a lookup of kind/name that found nothing
// usable: what says so, then the binaries Discover skipped that could have
// provided it, with why.
func (c *Catalog) noComponent(kind, name, what string) error {
	errs := []error{ErrNoComponent}
	var why []string
	for _, r := range c.rejected {
		if r.couldServe(kind, name) {
			errs = append(errs, r.Err)
			why = append(why, r.Path+": "+r.Reason)
		}
	}
	switch len(why) {
	case 0:
	case 1:
		what += "; its only binary was skipped: " + why[0]
	default:
		what += fmt.Sprintf("; %d binaries that could provide it were skipped: %s", len(why), strings.Join(why, "; "))
	}
	return &lookupError{"host: " + ErrNoComponent.Error() + ": " + what, errs}
}

// lookupError is a lookup's error: its text, and the sentinels and skip
// causes it wraps.
type lookupError struct {
	text string
	errs []error
}

func (e *lookupError) Error() string   { return e.text }
func (e *lookupError) Unwrap() []error { return e.errs }

// Components returns the component Lookup picks for each kind and name,
// sorted by kind, then name.
func (c *Catalog) Components() []Component {
	var cs []Component
	if c == nil {
		return nil
	}
	for i, e := range c.all {
		if i == 0 || e.Kind != c.all[i-1].Kind || e.Name != c.all[i-1].Name {
			cs = append(cs, e.Component)
		}
	}
	return cs
}

// All returns every component found, including those another binary's
// higher version shadows, sorted by kind, then name, then the one Lookup
// picks first.
func (c *Catalog) All() []Component {
	if c == nil {
		return nil
	}
	cs := make([]Component, len(c.all))
	for i, e := range c.all {
		cs[i] = e.Component
	}
	return cs
}

// Skipped returns the files and directories Discover did not take, with
// why, in the order met: for a host to log.
func (c *Catalog) Skipped() []Skipped {
	if c == nil {
		return nil
	}
	return slices.Clone(c.skipped)
}
