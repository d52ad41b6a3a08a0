package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-version"
	"github.com/plugwire/plugwire/internal/component"
	"github.com/plugwire/plugwire/internal/wire"
)

// DiscoverOptions say how Discover finds plugins. The zero value is what
// the function Discover uses.
type DiscoverOptions struct {
	// RequireChecksum skips every binary that has no FILE_SHA256SUM
	// sidecar file. A binary whose sidecar does not match is skipped
	// either way.
	RequireChecksum bool

	// DescribeTimeout bounds how long each binary may take to describe
	// itself. Zero means DefaultDescribeTimeout.
	DescribeTimeout time.Duration

	// Parallel bounds how many binaries are described at once. Zero means
	// four per CPU.
	Parallel int

	// CacheDir is the directory of the describe cache, which remembers
	// what each binary described (or why it failed to), and the SHA-256
	// a sidecar check computed, for as long as the file keeps its identity
	// (device, inode, size, modification and change times): a binary
	// replaced, rewritten, touched or moved is described again. Empty
	// means "plugwire" in os.UserCacheDir(). The cache is never a source
	// of failure: one that cannot be read or written is ignored, and said
	// so in one Debug line on Logger. A start still checks the binary
	// against its checksum. See docs/discovery.md.
	CacheDir string

	// NoCache turns the describe cache off: every binary is described,
	// and hashed when it has a sidecar, on every Discover.
	NoCache bool

	// Logger gets Discover's Debug line about a describe cache it could
	// not use. Nil means none.
	Logger hclog.Logger

	// goos is the operating system whose file naming applies; tests set
	// it to check Windows naming on any system.
	goos string
}

// Discover finds plugin binaries in dirs with the zero DiscoverOptions:
// see DiscoverOptions.Discover.
func Discover(ctx context.Context, prefix string, dirs ...string) (*Catalog, error) {
	return DiscoverOptions{}.Discover(ctx, prefix, dirs...)
}

// Discover looks in each directory for executables whose base name
// (without ".exe") starts with prefix: the rest of the name is
// the plugin's name, optionally followed by "_vX.Y.Z", its version, which
// must be the version the binary describes. It describes the candidates in
// parallel (after checking each against its FILE_SHA256SUM sidecar, when
// it has one) and returns a Catalog of their components: a set's
// component NAME of plugin PLUGIN is named PLUGIN-NAME, one with the empty
// name PLUGIN. A binary that fails to describe, speaks another protocol
// version, is not what its name says, or whose checksum is wrong or
// missing when required, is skipped with a reason (Catalog.Skipped); so is
// a directory that cannot be read. The error is for a bad prefix and for
// ctx ending.
//
// What a binary described, or why it failed to, is remembered in a cache
// (see DiscoverOptions.CacheDir) until the file changes: a binary that
// hangs costs its DescribeTimeout once (and once an hour at most), not on
// every Discover, and its Skipped.Reason says that it was remembered.
func (o DiscoverOptions) Discover(ctx context.Context, prefix string, dirs ...string) (*Catalog, error) {
	if strings.ContainsAny(prefix, `/\`) {
		return nil, fmt.Errorf("host: Discover: prefix %s contains a path separator", wire.Quote(prefix))
	}
	goos := o.goos
	if goos == "" {
		goos = runtime.GOOS
	}
	cands, skipped := findCandidates(goos, prefix, dirs)
	timeout := o.DescribeTimeout
	if timeout <= 0 {
		timeout = DefaultDescribeTimeout
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = 4 * runtime.NumCPU()
	}

	cache := o.openCache()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				cands[i].err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			cands[i].describe(ctx, timeout, o.RequireChecksum, cache)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("host: Discover: %w", err)
	}
	if cache != nil {
		cache.save(cands)
		cache.log(o.Logger)
	}

	cat := &Catalog{skipped: skipped}
	for i := range cands {
		c := &cands[i]
		if c.err != nil {
			s := skip(c.path, c.err)
			cat.skipped = append(cat.skipped, s)
			cat.rejected = append(cat.rejected, rejected{Skipped: s, plugin: c.plugin, desc: c.desc})
			continue
		}
		cat.add(c.components(i))
	}
	cat.sort()
	return cat, nil
}

// candidate is a binary whose name makes it a plugin.
type candidate struct {
	path    string
	abs     string      // its absolute path: the cache's key; "" when unknown
	fi      os.FileInfo // what os.Stat said of it
	rec     *cacheEntry // what describing it learnt, for the cache
	plugin  string      // its name after the prefix, without version or .exe
	fileVer string      // the version in its name, or ""
	desc    *Description
	sum     *sidecarSum // nil without a sidecar
	err     error       // why it is skipped
}

// fileVersion is the "_vX.Y.Z" (semantic version) that may end a
// plugin's name.
var fileVersion = regexp.MustCompile(`_v([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$`)

// findCandidates lists the candidates in dirs, in order, and what it
// skipped there.
func findCandidates(goos, prefix string, dirs []string) ([]candidate, []Skipped) {
	var cands []candidate
	var skipped []Skipped
	seen := map[string]bool{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = reasonErr{"no such directory", err}
			}
			skipped = append(skipped, skip(dir, err))
			continue
		}
		for _, e := range entries {
			base, ok := candidateName(goos, e.Name())
			if !ok || !strings.HasPrefix(base, prefix) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			abs, err := filepath.Abs(path)
			if err == nil {
				if seen[abs] {
					continue
				}
				seen[abs] = true
			} else {
				abs = ""
			}
			c := candidate{path: path, abs: abs, plugin: base[len(prefix):]}
			if m := fileVersion.FindStringSubmatchIndex(c.plugin); m != nil {
				c.fileVer = c.plugin[m[2]:m[3]]
				c.plugin = c.plugin[:m[0]]
			}
			fi, err := checkCandidate(goos, path, c.plugin)
			if err != nil {
				skipped = append(skipped, skip(path, err))
				continue
			}
			c.fi = fi
			cands = append(cands, c)
		}
	}
	return cands, skipped
}

// candidateName returns the name of the file called name as a plugin
// binary (wire.BinaryName), and whether the file can be one at all by its
// name: on Windows only .exe files can, and a checksum sidecar never is.
func candidateName(goos, name string) (string, bool) {
	if strings.HasSuffix(name, SidecarSuffix) || goos == "windows" && !strings.EqualFold(filepath.Ext(name), ".exe") {
		return "", false
	}
	return wire.BinaryName(name), true
}

// checkCandidate returns the file at path, or why it cannot be the plugin
// named plugin.
func checkCandidate(goos, path, plugin string) (os.FileInfo, error) {
	if plugin == "" {
		return nil, reasonErr{"no plugin name after the prefix", ErrBadName}
	}
	if err := component.CheckName(plugin); err != nil {
		return nil, reasonErr{"plugin " + err.Error(), ErrBadName}
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, reasonErr{"not a regular file", nil}
	case goos != "windows" && fi.Mode().Perm()&0o111 == 0:
		return nil, reasonErr{"not executable", fs.ErrPermission}
	}
	return fi, nil
}

// reasonErr is a skip reason whose text is not its cause's: the cause is
// there for errors.Is.
type reasonErr struct {
	reason string
	cause  error
}

func (e reasonErr) Error() string { return e.reason }
func (e reasonErr) Unwrap() error { return e.cause }

// describe describes the candidate, through the cache unless it is nil,
// and checks what it says against its name and this host.
func (c *candidate) describe(ctx context.Context, timeout time.Duration, requireSum bool, cache *describeCache) {
	var d *Description
	var sum *sidecarSum
	var err error
	if cache != nil {
		d, sum, err = cache.describe(ctx, c, timeout, requireSum)
	} else {
		d, sum, err = describe(ctx, c.path, timeout, requireSum)
	}
	if err != nil {
		c.err = err
		return
	}
	c.desc, c.sum = d, sum
	if d.Protocol != int(wire.ProtocolVersion) {
		c.err = reasonErr{fmt.Sprintf("host: %s speaks plugwire protocol %d, this host %d", c.path, d.Protocol, wire.ProtocolVersion), ErrVersionMismatch}
		return
	}
	if c.fileVer != "" {
		fv, _ := version.NewSemver(c.fileVer)
		dv, err := version.NewSemver(d.Version)
		if err != nil || !fv.Equal(dv) {
			c.err = reasonErr{fmt.Sprintf("host: %s is named version %s but describes version %s", c.path, c.fileVer, wire.Quote(d.Version)), ErrBadName}
		}
	}
}

// components lists what the described candidate provides; order is its
// place in discovery, which breaks ties between equal versions.
func (c *candidate) components(order int) []listing {
	var es []listing
	var sum string
	if c.sum != nil {
		sum = c.sum.hex
	}
	for kind, names := range c.desc.Components {
		for _, name := range names {
			full := c.plugin
			if name != "" {
				full += "-" + name
			}
			es = append(es, listing{
				Component: Component{
					Kind:     kind,
					Name:     full,
					Path:     c.path,
					Dispense: component.DispenseName(kind, name),
					Version:  c.desc.Version,
					SHA256:   sum,
				},
				order: order,
			})
		}
	}
	return es
}

// Skipped is a file or directory Discover did not take, and why.
type Skipped struct {
	// Path is the file or directory, as Discover found it (directory
	// joined with the file's name).
	Path string

	// Reason says why, for a log line; it does not repeat Path.
	Reason string

	// Err is the cause, for errors.Is and errors.As: it wraps
	// ErrChecksum or ErrNoChecksum (checksum), ErrNotPlugin (the binary
	// did not describe itself as a plugwire plugin does),
	// ErrProcessExited as well (it exited with an error status or a
	// signal before answering), ErrVersionMismatch (another wire
	// protocol), ErrBadName (its file name is no plugin name, or names
	// another version than it describes), fs.ErrNotExist or
	// fs.ErrPermission (a missing directory, a file that is not
	// executable), or the error of reading a directory or starting the
	// binary.
	Err error
}

// ErrBadName is wrapped by the Skipped.Err of a file whose name has no
// valid plugin name after the prefix, or whose "_vX.Y.Z" is not the
// version the binary describes.
var ErrBadName = errors.New("file name is not the plugin's")

// skip is the Skipped for path failing with err; its Reason drops the
// "host: PATH" that begins the library's errors.
func skip(path string, err error) Skipped {
	r := err.Error()
	if rest, ok := strings.CutPrefix(r, "host: "+path); ok {
		r = strings.TrimPrefix(strings.TrimPrefix(rest, ":"), " ")
	}
	return Skipped{Path: path, Reason: r, Err: err}
}
