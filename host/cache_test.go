//go:build unix

package host_test

// Tests of the describe cache, with real binaries (the set helper behind
// shell scripts, as in discover_test.go), real cache files and real
// processes for hosts. Each test names its own CacheDir: with the zero
// DiscoverOptions the tests use no cache (cache_export_test.go).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// settle waits until what was written before it is old enough for the
// cache to remember on any file system (a file system with whole-second
// times needs two); Discover itself waits 50 ms for a binary just written
// where times have sub-second parts.
func settle() { time.Sleep(2100 * time.Millisecond) }

// cacheRig is a directory of sets, each marking its runs, discovered
// through a cache.
type cacheRig struct {
	t                   *testing.T
	dir, markers, cache string
	opts                host.DiscoverOptions
	sink                *logSink
	seen                int // cache lines cacheLines returned
}

func newCacheRig(t *testing.T) *cacheRig {
	logger, sink := testLogger(hclog.Debug)
	r := &cacheRig{t: t, dir: t.TempDir(), markers: t.TempDir(), cache: t.TempDir(), sink: sink}
	// Under a heavy load a set's describe may take long: it must not be
	// remembered as hung.
	r.opts = host.DiscoverOptions{CacheDir: r.cache, Logger: logger, DescribeTimeout: time.Minute}
	return r
}

// set writes the set name (a plugin binary of the rig's directory) that
// marks each of its runs.
func (r *cacheRig) set(name, v, comps string) string {
	return writeSet(r.t, r.dir, name, v, comps, envSetMarker+"="+shellQuote(filepath.Join(r.markers, name)))
}

// discover discovers the rig's directory and returns the catalog and the
// binaries that ran (were described).
func (r *cacheRig) discover(opts host.DiscoverOptions) (*host.Catalog, []string) {
	r.t.Helper()
	cat, err := opts.Discover(context.Background(), "plug-", r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	return cat, r.ran()
}

// ran lists the binaries that ran since it was last called.
func (r *cacheRig) ran() []string {
	r.t.Helper()
	es, err := os.ReadDir(r.markers)
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
		if err := os.Remove(filepath.Join(r.markers, e.Name())); err != nil {
			r.t.Fatal(err)
		}
	}
	return names
}

// cacheLines returns the Debug lines about the cache logged so far, and
// forgets them.
func (r *cacheRig) cacheLines() []string {
	var lines []string
	all := r.sink.find(msgIs("describe cache ignored"))
	for _, e := range all[r.seen:] {
		lines = append(lines, fmt.Sprint(e["problem"]))
	}
	r.seen = len(all)
	return lines
}

// A warm Discover describes nothing and finds what a cold one found; a
// binary touched, rewritten in place, replaced or moved is described
// again, alone.
func TestDiscoverCache(t *testing.T) {
	t.Parallel()
	r := newCacheRig(t)
	var all []string
	for i := range 5 {
		name := fmt.Sprintf("plug-p%d", i)
		r.set(name, "1.0.0", "builder/a,command/c")
		all = append(all, name)
	}
	settle()
	want, ran := r.discover(host.DiscoverOptions{NoCache: true})
	if !reflect.DeepEqual(ran, all) || len(want.All()) != 10 {
		t.Fatalf("without the cache: ran %q, found %q", ran, brief(want.All()))
	}
	check := func(what string, wantRan ...string) *host.Catalog {
		t.Helper()
		cat, ran := r.discover(r.opts)
		if !slices.Equal(ran, wantRan) {
			t.Errorf("%s: described %q, want %q", what, ran, wantRan)
		}
		if s := cat.Skipped(); len(s) != 0 {
			t.Errorf("%s: skipped %v", what, s)
		}
		if lines := r.cacheLines(); len(lines) != 0 {
			t.Errorf("%s: cache problems logged: %q", what, lines)
		}
		return cat
	}
	check("cold", all...)
	if cat := check("warm"); !reflect.DeepEqual(brief(cat.All()), brief(want.All())) {
		t.Errorf("warm: found\n%s\nwant\n%s", strings.Join(brief(cat.All()), "\n"), strings.Join(brief(want.All()), "\n"))
	}

	// Touched: same bytes, another modification (and change) time.
	p0 := filepath.Join(r.dir, "plug-p0")
	now := time.Now()
	if err := os.Chtimes(p0, now, now); err != nil {
		t.Fatal(err)
	}
	// Rewritten in place, the same bytes: the same inode and size.
	r.set("plug-p1", "1.0.0", "builder/a,command/c")
	// Replaced: another file renamed over it, another version.
	tmp := writeSet(t, t.TempDir(), "new", "2.0.0", "builder/a,command/c", envSetMarker+"="+shellQuote(filepath.Join(r.markers, "plug-p2")))
	if err := os.Rename(tmp, filepath.Join(r.dir, "plug-p2")); err != nil {
		t.Fatal(err)
	}
	// Moved: the same file under another name.
	if err := os.Rename(filepath.Join(r.dir, "plug-p3"), filepath.Join(r.dir, "plug-p3b")); err != nil {
		t.Fatal(err)
	}
	settle()
	// plug-p3b's script marks its runs under its old name.
	cat := check("changed", "plug-p0", "plug-p1", "plug-p2", "plug-p3")
	if c, err := cat.Lookup("builder", "p2-a"); err != nil || c.Version != "2.0.0" {
		t.Errorf("replaced plug-p2: Lookup = %v, %v; want version 2.0.0", c, err)
	}
	if _, err := cat.Lookup("builder", "p3b-a"); err != nil {
		t.Errorf("moved plug-p3b: %v", err)
	}
	check("warm again")

	// One changed among many costs one describe.
	if err := os.Chtimes(filepath.Join(r.dir, "plug-p4"), now, now); err != nil {
		t.Fatal(err)
	}
	check("one touched", "plug-p4")
	if _, ran := r.discover(host.DiscoverOptions{NoCache: true}); !reflect.DeepEqual(ran, []string{"plug-p0", "plug-p1", "plug-p2", "plug-p3", "plug-p4"}) {
		t.Errorf("NoCache: described %q, want every binary", ran)
	}
}

// A cache file that is corrupt, truncated, of another format or that does
// not hold what an entry should is ignored with one Debug line, and
// rewritten: the next Discover uses it.
func TestDiscoverCacheBroken(t *testing.T) {
	t.Parallel()
	r := newCacheRig(t)
	r.set("plug-a", "1.0.0", "builder")
	r.set("plug-b", "1.0.0", "command")
	settle()
	file := filepath.Join(r.cache, "describe-v1.json")
	r.discover(r.opts)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, content string
		problem       string // in the Debug line; "" for none
	}{
		{"empty", "", "is corrupt"},
		{"truncated", string(good[:len(good)/2]), "is corrupt"},
		{"garbage", "\x00\x01plugwire", "is corrupt"},
		{"another format", `{"format":99,"entries":{}}`, "is of format 99, this host reads 1"},
		{"wrong types", `{"format":1,"entries":{"/x":{"dev":"seven"}}}`, "is corrupt"},
		{"bad description", strings.ReplaceAll(string(good), fmt.Sprintf(`"protocol":%d`, wire.ProtocolVersion), `"protocol":"two"`), ""},
		{"unknown cause", strings.ReplaceAll(string(good), `"out":`, `"err":"describe: no","is":["gremlins"],"x":`), ""},
		{"a directory", "", "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.cacheLines()
			_ = os.RemoveAll(file)
			if tc.name == "a directory" {
				if err := os.Mkdir(file, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cat, ran := r.discover(r.opts)
			if !reflect.DeepEqual(ran, []string{"plug-a", "plug-b"}) || len(cat.Components()) != 2 {
				t.Errorf("described %q, found %q; want both", ran, brief(cat.Components()))
			}
			lines := r.cacheLines()
			switch {
			case tc.problem == "" && len(lines) != 0:
				t.Errorf("Debug lines %q, want none", lines)
			case tc.problem != "" && (len(lines) != 1 || !strings.Contains(lines[0], tc.problem)):
				t.Errorf("Debug lines %q, want one saying %q", lines, tc.problem)
			}
			if tc.name == "a directory" {
				_ = os.Remove(file) // not something a Discover replaces
			}
			if _, ran := r.discover(r.opts); tc.name != "a directory" && len(ran) != 0 {
				t.Errorf("after the rewrite: described %q, want none", ran)
			}
			if lines := r.cacheLines(); tc.name != "a directory" && len(lines) != 0 {
				t.Errorf("after the rewrite: Debug lines %q", lines)
			}
		})
	}
}

// A cache directory that cannot be written costs the cache, nothing more:
// discovery works, and says so in one Debug line.
func TestDiscoverCacheUnwritable(t *testing.T) {
	t.Parallel()
	r := newCacheRig(t)
	r.set("plug-a", "1.0.0", "builder")
	settle()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := r.opts
	opts.CacheDir = filepath.Join(notDir, "cache")
	for i := range 2 {
		cat, ran := r.discover(opts)
		if len(cat.Components()) != 1 || len(ran) != 1 {
			t.Errorf("run %d: found %q, described %q", i, brief(cat.Components()), ran)
		}
		if lines := r.cacheLines(); len(lines) != 1 || !strings.Contains(lines[0], "not written") || !strings.Contains(lines[0], "not a directory") {
			t.Errorf("run %d: Debug lines %q, want one saying the cache was not written", i, lines)
		}
	}
	if os.Geteuid() == 0 {
		t.Log("running as root: a directory's mode does not stop writes; not tested")
		return
	}
	// A cache read but not written: it is used, and the change is
	// described again every time.
	r.discover(r.opts)
	if err := os.Chmod(r.cache, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(r.cache, 0o700) })
	now := time.Now()
	if err := os.Chtimes(filepath.Join(r.dir, "plug-a"), now, now); err != nil {
		t.Fatal(err)
	}
	settle()
	for i := range 2 {
		if _, ran := r.discover(r.opts); len(ran) != 1 {
			t.Errorf("read-only cache, run %d: described %q, want plug-a", i, ran)
		}
		if lines := r.cacheLines(); len(lines) != 1 || !strings.Contains(lines[0], "permission denied") {
			t.Errorf("read-only cache, run %d: Debug lines %q", i, lines)
		}
	}
}

// A binary that hangs costs its describe timeout once: it is remembered
// as skipped, with the same reason and causes, until it changes or a
// Discover gives describe more time. A failure's causes are kept. The
// binaries are discovered as soon as they are written, as a host's test
// would.
func TestDiscoverCacheFailures(t *testing.T) {
	t.Parallel()
	r := newCacheRig(t)
	count := filepath.Join(t.TempDir(), "count")
	pids := filepath.Join(t.TempDir(), "pids")
	hang := writeScript(t, r.dir, "plug-hang", "echo run >> "+shellQuote(count)+"; echo $$ >> "+shellQuote(pids)+"; exec sleep 600")
	r.set("plug-fails", "1.0.0", "builder")
	fails := writeScript(t, r.dir, "plug-fails", "echo run >> "+shellQuote(count)+"; echo 'cannot open display' >&2; exit 3")
	runs := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "run")
	}
	opts := r.opts
	opts.DescribeTimeout = time.Second
	discover := func(what string, wantRuns int, fromCache bool) {
		t.Helper()
		var cat *host.Catalog
		within(t, opts.DescribeTimeout+5*time.Second, "Discover", func() { cat, _ = r.discover(opts) })
		if n := runs(); n != wantRuns {
			t.Errorf("%s: %d describe runs in all, want %d", what, n, wantRuns)
		}
		got := map[string]host.Skipped{}
		for _, s := range cat.Skipped() {
			got[s.Path] = s
		}
		for _, w := range []struct {
			path, reason string
			is           []error
		}{
			{hang, "describe: no answer within 1s", []error{host.ErrNotPlugin}},
			{fails, `describe: exit status 3; stderr: "cannot open display"`, []error{host.ErrNotPlugin, host.ErrProcessExited}},
		} {
			s, ok := got[w.path]
			if !ok {
				t.Errorf("%s: %s not skipped", what, w.path)
				continue
			}
			if !strings.HasPrefix(s.Reason, w.reason) || strings.Contains(s.Reason, "remembered from describing it at") != fromCache {
				t.Errorf("%s: reason %q, want one starting %q, from the cache: %v", what, s.Reason, w.reason, fromCache)
			}
			if fromCache && w.path == hang && !strings.Contains(s.Reason, "or with a longer DescribeTimeout") {
				t.Errorf("%s: reason %q does not say when the hang is tried again", what, s.Reason)
			}
			if !strings.HasSuffix(s.Err.Error(), s.Reason) || !strings.Contains(s.Err.Error(), w.path) {
				t.Errorf("%s: Err %q does not end with the reason or name the binary", what, s.Err)
			}
			for _, is := range w.is {
				if !errors.Is(s.Err, is) {
					t.Errorf("%s: %s: Err %v does not wrap %v", what, w.path, s.Err, is)
				}
			}
		}
	}
	discover("cold", 2, false)
	discover("warm", 2, true)
	discover("warm again", 2, true)

	// More time for describe: the hang is tried again, the failure is not.
	opts.DescribeTimeout = 1500 * time.Millisecond
	within(t, 10*time.Second, "Discover", func() { r.discover(opts) })
	if n := runs(); n != 3 {
		t.Errorf("longer timeout: %d runs in all, want 3", n)
	}

	// Changed, they are described again: the hung binary is a plugin now.
	writeSet(t, r.dir, "plug-hang", "1.0.0", "builder")
	writeScript(t, r.dir, "plug-fails", "echo run >> "+shellQuote(count)+"; exit 4")
	opts.DescribeTimeout = time.Minute // a set's describe under load may take more than a second
	cat, _ := r.discover(opts)
	if _, err := cat.Lookup("builder", "hang"); err != nil || runs() != 4 {
		t.Errorf("changed: %v, %d runs in all (want 4); skipped %v", err, runs(), cat.Skipped())
	}
	b, _ := os.ReadFile(pids)
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		if !waitGone(pid, 5*time.Second) {
			t.Errorf("the hung describe %d is still running", pid)
		}
	}
}

// With sidecars, a warm Discover reuses the SHA-256 recorded for the same
// file and still checks it against the sidecar; a client still checks the
// binary it starts: a binary changed after a warm Discover is refused.
func TestDiscoverCacheSidecar(t *testing.T) {
	t.Parallel()
	r := newCacheRig(t)
	path := r.set("plug-x", "1.0.0", "builder/a")
	sum := sha256Hex(t, path)
	writeSidecar(t, path, sum)
	opts := r.opts
	opts.RequireChecksum = true
	for _, what := range []string{"cold", "warm"} {
		cat, ran := r.discover(opts)
		c, err := cat.Lookup("builder", "x-a")
		if err != nil || c.SHA256 != sum {
			t.Fatalf("%s: %v, %v; want the component with SHA256 %s", what, c, err, sum)
		}
		if (what == "cold") != (len(ran) == 1) {
			t.Errorf("%s: described %q", what, ran)
		}
	}

	// The sidecar says another sum: skipped, without running it.
	writeSidecar(t, path, strings.Repeat("ab", 32))
	cat, ran := r.discover(opts)
	s := cat.Skipped()
	if len(ran) != 0 || len(s) != 1 || !errors.Is(s[0].Err, host.ErrChecksum) ||
		!strings.Contains(s[0].Reason, "its SHA-256 is "+sum+", want abab") || !strings.Contains(s[0].Reason, "remembered from hashing it") {
		t.Errorf("wrong sidecar: described %q, skipped %v", ran, s)
	}

	// Found warm, then changed in place before it starts: refused.
	writeSidecar(t, path, sum)
	cat, ran = r.discover(opts)
	c, err := cat.Lookup("builder", "x-a")
	if err != nil || len(ran) != 0 {
		t.Fatalf("warm: %v, described %q", err, ran)
	}
	writeScript(t, r.dir, "plug-x", "exit 0 # an impostor")
	cl := c.NewClient(&host.Config{Logger: hclog.NewNullLogger()})
	defer cl.Kill()
	if _, err := host.Dispense[shared.Builder](cl, c.Dispense); !errors.Is(err, host.ErrChecksum) {
		t.Errorf("binary changed after a warm Discover: %v, want ErrChecksum", err)
	}
}

// Environment of a host process of TestDiscoverCacheHosts.
const (
	envCacheHost = "PLUGWIRE_TEST_CACHEHOST" // the host's name; set only in such a process
	envCacheDirs = "PLUGWIRE_TEST_CACHEDIRS" // the directories it discovers, in order
)

// Two hosts (processes) discovering the same directories in a loop, each
// through the default cache directory, lose nothing of what the other
// wrote and never read a half-written cache: every Discover of either
// finds every component and logs no cache problem, and after them a
// Discover describes nothing.
func TestDiscoverCacheHosts(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	markers := t.TempDir()
	var dirs []string
	for i := range 8 {
		dir := t.TempDir()
		for j := range 3 {
			name := fmt.Sprintf("plug-d%dp%d", i, j)
			writeSet(t, dir, name, "1.0.0", "builder/a,command/c", envSetMarker+"="+shellQuote(filepath.Join(markers, name)))
		}
		dirs = append(dirs, dir)
	}
	settle()
	var hosts []*exec.Cmd
	for i, name := range []string{"A", "B"} {
		order := slices.Clone(dirs)
		if i == 1 {
			slices.Reverse(order)
		}
		cmd := exec.Command(testExe, "-test.run=^TestDiscoverCacheHostProcess$", "-test.count=1")
		cmd.Env = append(helperEnv(""), envCacheHost+"="+name,
			envCacheDirs+"="+strings.Join(order, string(os.PathListSeparator)),
			"XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "HOME="+home)
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, envHelper+"=") })
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		hosts = append(hosts, cmd)
		defer func() {
			if t.Failed() || !strings.Contains(out.String(), "PASS") {
				t.Logf("host %s:\n%s", name, out.String())
			}
		}()
	}
	for i, cmd := range hosts {
		var err error
		within(t, time.Minute, "a host", func() { err = cmd.Wait() })
		if err != nil {
			t.Errorf("host %d: %v", i, err)
		}
	}
	cacheDir := filepath.Join(home, ".cache", "plugwire")
	if runtime.GOOS == "darwin" {
		cacheDir = filepath.Join(home, "Library", "Caches", "plugwire")
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "describe-v1.json")); err != nil {
		t.Fatalf("the default cache: %v", err)
	}
	for _, e := range mustReadDir(t, markers) {
		_ = os.Remove(filepath.Join(markers, e.Name()))
	}
	logger, sink := testLogger(hclog.Debug)
	cat, err := (host.DiscoverOptions{CacheDir: cacheDir, Logger: logger, DescribeTimeout: time.Minute}).Discover(context.Background(), "plug-", dirs...)
	if err != nil || len(cat.Components()) != 2*3*8 {
		t.Fatalf("Discover: %v, found %d components", err, len(cat.Components()))
	}
	if ran := mustReadDir(t, markers); len(ran) != 0 || len(sink.find(msgIs("describe cache ignored"))) != 0 {
		t.Errorf("after both hosts, a Discover described %d binaries (want none); cache lines %v", len(ran), sink.find(msgIs("describe cache ignored")))
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestDiscoverCacheHostProcess is a host of TestDiscoverCacheHosts: run
// only in a process that test starts.
func TestDiscoverCacheHostProcess(t *testing.T) {
	name := os.Getenv(envCacheHost)
	if name == "" {
		t.Skip("run by TestDiscoverCacheHosts")
	}
	dirs := filepath.SplitList(os.Getenv(envCacheDirs))
	logger, sink := testLogger(hclog.Debug)
	opts := host.DiscoverOptions{Logger: logger, DescribeTimeout: time.Minute}
	for round := range 4 {
		for _, dir := range dirs {
			cat, err := opts.Discover(context.Background(), "plug-", dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(cat.Components()); n != 6 || len(cat.Skipped()) != 0 {
				t.Errorf("host %s, round %d, %s: found %d components, skipped %v", name, round, dir, n, cat.Skipped())
			}
			if lines := sink.find(msgIs("describe cache ignored")); len(lines) != 0 {
				t.Fatalf("host %s, round %d: cache problem: %v", name, round, lines)
			}
		}
	}
}
