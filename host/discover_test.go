//go:build unix

package host_test

// Discovery tests: plugin sets are the test binary behind small shell
// scripts (the script sets what the set serves and its version, then
// execs the helper), junk binaries are scripts and /bin/true.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeScript writes an executable shell script named name in dir. A
// child process writes it: a file this process had open for writing
// could not be run while another test forks (ETXTBSY, go.dev/issue/22315).
func writeScript(t testing.TB, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	cmd := exec.Command("/bin/sh", "-c", `cat > "$1" && chmod 755 "$1"`, "sh", path)
	cmd.Stdin = strings.NewReader("#!/bin/sh\n" + body + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing %s: %v: %s", path, err, out)
	}
	return path
}

// writeSet writes a script named name in dir that runs the set helper
// serving comps (envSet's format) at version v, plus extra variables.
func writeSet(t testing.TB, dir, name, v, comps string, extra ...string) string {
	t.Helper()
	vars := append([]string{
		envHelper + "=set",
		envSet + "=" + shellQuote(comps),
		envSetVersion + "=" + shellQuote(v),
		"GORACE=" + shellQuote("atexit_sleep_ms=0"),
	}, extra...)
	return writeScript(t, dir, name, strings.Join(vars, " ")+" exec "+shellQuote(testExe)+` "$@"`)
}

// writeSidecar writes path's FILE_SHA256SUM with sum, or with the file's
// real SHA-256 when sum is "".
func writeSidecar(t testing.TB, path, sum string) {
	t.Helper()
	if sum == "" {
		sum = sha256Hex(t, path)
	}
	if err := os.WriteFile(path+host.SidecarSuffix, []byte(sum+"  "+filepath.Base(path)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// A set describes its version, protocol and components; a set of one
// registered under the empty name describes that.
func TestDescribe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, version, comps string
		want                 map[string][]string
	}{
		{"set", "1.4.0-dev", "command/validate,builder/instance,builder/ebs,post-processor/x", map[string][]string{
			"builder": {"ebs", "instance"}, "command": {"validate"}, "post-processor": {"x"},
		}},
		{"one", "", "builder", map[string][]string{"builder": {""}}},
	} {
		path := writeSet(t, dir, tc.name, tc.version, tc.comps)
		d, err := host.Describe(context.Background(), path)
		if err != nil {
			t.Fatalf("Describe(%s): %v", tc.name, err)
		}
		want := &host.Description{Path: path, Version: tc.version, Protocol: int(wire.ProtocolVersion), Components: tc.want}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("Describe(%s) = %+v, want %+v", tc.name, d, want)
		}
	}
	// A binary whose main is plugwire.Serve is a set without a version.
	path := writeScript(t, dir, "serve", envHelper+"=bare GORACE=atexit_sleep_ms=0 exec "+shellQuote(testExe)+` "$@"`)
	d, err := host.Describe(context.Background(), path)
	want := &host.Description{Path: path, Protocol: int(wire.ProtocolVersion), Components: map[string][]string{"builder": {""}, "command": {""}}}
	if err != nil || !reflect.DeepEqual(d, want) {
		t.Errorf("Describe(plugwire.Serve) = %+v, %v; want %+v", d, err, want)
	}
}

// Describe of a binary that is not a plugin set gives an error naming the
// binary and what it did, within its bound, and leaves no process behind.
func TestDescribeJunk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := func(name string) string { return filepath.Join(dir, name+".pids") }
	script := func(name, body string) string { return writeScript(t, dir, name, body) }
	for _, tc := range []struct {
		name    string
		path    string
		timeout time.Duration
		want    []string
		is      []error // what the error wraps
	}{
		{"true", "/bin/true", 0, []string{"printed nothing on stdout"}, []error{host.ErrNotPlugin}},
		{"fails", script("fails", "echo 'cannot open display' >&2; exit 3"), 0, []string{"exit status 3", `stderr: "cannot open display"`}, []error{host.ErrNotPlugin, host.ErrProcessExited}},
		{"prose", script("prose", "echo 'usage: prose [options]'"), 0, []string{"not a JSON description", "usage: prose"}, []error{host.ErrNotPlugin}},
		// Not waited for: killed as soon as the output cannot be a description.
		{"prose and lingers", script("proselinger", "echo $$ > "+shellQuote(pidFile("proselinger"))+"; echo 'hello I am junk'; exec sleep 600"), 0, []string{"not a JSON description", "hello I am junk"}, []error{host.ErrNotPlugin}},
		{"json, junk, lingers", script("jsonlinger", "echo $$ > "+shellQuote(pidFile("jsonlinger"))+`; echo '{"protocol":1,"components":{"builder":[""]}}'; echo junk; exec sleep 600`), 0, []string{"goes on after the JSON description", "junk"}, []error{host.ErrNotPlugin}},
		{"json then junk", script("jsonjunk", `echo '{"version":"","protocol":1,"components":{"builder":[""]}} and more'`), 0, []string{"goes on after the JSON description", "and more"}, []error{host.ErrNotPlugin}},
		{"two objects", script("twice", `echo '{"protocol":1,"components":{"builder":[""]}}'; echo '{}'`), 0, []string{"goes on after"}, []error{host.ErrNotPlugin}},
		{"no protocol", script("noproto", `echo '{"version":"1.0.0","components":{"builder":[""]}}'`), 0, []string{"no protocol version"}, []error{host.ErrNotPlugin}},
		{"no components", script("nocomps", `echo '{"version":"1.0.0","protocol":1,"components":{}}'`), 0, []string{"lists no components"}, []error{host.ErrNotPlugin}},
		{"bad kind", script("badkind", `echo '{"protocol":1,"components":{"Build er":["a"]}}'`), 0, []string{`kind "Build er" is not valid`}, []error{host.ErrNotPlugin}},
		{"bad name", script("badname", `echo '{"protocol":1,"components":{"builder":["../x"]}}'`), 0, []string{`name "../x" is not valid`}, []error{host.ErrNotPlugin}},
		{"name twice", script("twicename", `echo '{"protocol":1,"components":{"builder":["a","a"]}}'`), 0, []string{`builder "a" is listed twice`}, []error{host.ErrNotPlugin}},
		{"bad version", script("badver", `echo '{"version":"latest","protocol":1,"components":{"builder":["a"]}}'`), 0, []string{`version "latest" is not a semantic version`}, []error{host.ErrNotPlugin}},
		// White space can still become a description: only the bound ends it.
		{"flood stdout", script("floodout", "echo $$ > "+shellQuote(pidFile("floodout"))+"; yes ' '"), 0, []string{"more than 1048576 bytes on stdout"}, []error{host.ErrNotPlugin}},
		{"flood stderr", script("flooderr", "echo $$ > "+shellQuote(pidFile("flooderr"))+"; yes plugwire >&2"), 0, []string{"more than 65536 bytes on stderr"}, []error{host.ErrNotPlugin}},
		{"hang", writeScript(t, t.TempDir(), "plug-hang", "printf '{\\n'; sleep 600 & echo $! > "+shellQuote(pidFile("plug-hang"))+"; echo $$ >> "+shellQuote(pidFile("plug-hang"))+"; wait"), time.Second, []string{"no answer within 1s", `stdout: "{\n"`}, []error{host.ErrNotPlugin}},
		{"missing", filepath.Join(dir, "missing"), 0, []string{"no such file"}, []error{fs.ErrNotExist}},
		{"not executable", func() string {
			p := filepath.Join(dir, "noexec")
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}(), 0, []string{"permission denied"}, []error{fs.ErrPermission}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error
			bound := tc.timeout
			if bound == 0 {
				bound = host.DefaultDescribeTimeout
			}
			within(t, bound+5*time.Second, "Describe", func() {
				if tc.timeout != 0 {
					// Discover's own bound, through its options.
					cat, derr := (host.DiscoverOptions{DescribeTimeout: tc.timeout}).Discover(context.Background(), "plug-", filepath.Dir(tc.path))
					if derr != nil || len(cat.Skipped()) != 1 {
						t.Fatalf("Discover: %v, %v", cat, derr)
					}
					s := cat.Skipped()[0]
					if s.Path != tc.path || s.Err == nil || s.Reason != s.Err.Error() && !strings.HasSuffix(s.Err.Error(), s.Reason) {
						t.Errorf("Skipped %+v: want the path, an Err and a Reason its text ends with", s)
					}
					if strings.Contains(s.Reason, tc.path) {
						t.Errorf("Skipped.Reason %q repeats the path", s.Reason)
					}
					err = s.Err
					return
				}
				_, err = host.Describe(context.Background(), tc.path)
			})
			if err == nil {
				t.Fatal("Describe succeeded")
			}
			for _, w := range append([]string{tc.path}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, w := range tc.is {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %v", err, w)
				}
			}
			if b, rerr := os.ReadFile(pidFile(filepath.Base(tc.path))); rerr == nil {
				for _, f := range strings.Fields(string(b)) {
					pid, _ := strconv.Atoi(f)
					if !waitGone(pid, 5*time.Second) {
						t.Errorf("process %d of %s is still running after Describe returned", pid, tc.name)
					}
				}
			}
		})
	}
}

// A description written in pieces, over several lines, is waited for:
// only output that can no longer be one ends the run early.
func TestDescribeInPieces(t *testing.T) {
	t.Parallel()
	path := writeScript(t, t.TempDir(), "pieces", `printf '  {\n  "protocol": 1,\n'; sleep 0.2; printf '  "components": {"builder": ["a"]}\n}\n'`)
	d, err := host.Describe(context.Background(), path)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if d.Protocol != 1 || !reflect.DeepEqual(d.Components, map[string][]string{"builder": {"a"}}) {
		t.Errorf("Describe = %+v", d)
	}
}

// What a binary leaves running when it has described itself is killed.
func TestDescribeLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	path := writeScript(t, dir, "linger", "sleep 600 & echo $! > "+shellQuote(pids)+`; echo '{"protocol":1,"components":{"builder":["a"]}}'`)
	d, err := host.Describe(context.Background(), path)
	if err != nil || !reflect.DeepEqual(d.Components, map[string][]string{"builder": {"a"}}) {
		t.Errorf("Describe = %+v, %v", d, err)
	}
	b, _ := os.ReadFile(pids)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 || !waitGone(pid, 5*time.Second) {
		t.Errorf("the process the binary left behind (%q) is still running", b)
	}
}

// Describe ends when its context does, with the context's error.
func TestDescribeContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	path := writeScript(t, dir, "hang", "echo $$ > "+shellQuote(pids)+"; exec sleep 600")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var err error
	within(t, 5*time.Second, "Describe", func() { _, err = host.Describe(ctx, path) })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) {
		t.Errorf("Describe = %v, want an error naming %s and wrapping context.DeadlineExceeded", path, err)
	}
	b, _ := os.ReadFile(pids)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 || !waitGone(pid, 5*time.Second) {
		t.Errorf("the describe process (%q) is still running", b)
	}
}

// brief is what a test compares of a Component.
func brief(cs []host.Component) []string {
	var s []string
	for _, c := range cs {
		s = append(s, fmt.Sprintf("%s %s %s %s %s", c.Kind, c.Name, c.Dispense, c.Version, filepath.Base(c.Path)))
	}
	return s
}

// Discover finds sets and one-component binaries by prefix, names their
// components PLUGIN-NAME (or PLUGIN), picks the highest version, takes
// lookups with constraints, and skips what is not right with a reason.
func TestDiscover(t *testing.T) {
	t.Parallel()
	d1, d2 := t.TempDir(), t.TempDir()
	writeSet(t, d1, "plug-demo_v1.2.0", "1.2.0", "builder/a,builder/b,command/c")
	writeSet(t, d2, "plug-demo_v1.0.0", "1.0.0", "builder/a,builder/old")
	writeSet(t, d2, "plug-demo_v1.3.0-dev", "1.3.0-dev", "builder/a")
	writeSet(t, d1, "plug-solo", "", "builder")
	writeSet(t, d2, "plug-solo", "0.1.0", "builder")
	writeSet(t, d1, "plug-cmd", "2.0.0", "command")
	writeSet(t, d1, "plug-liar_v2.0.0", "1.0.0", "builder")
	writeSet(t, d1, "plug-nover_v2.0.0", "", "builder")
	writeSet(t, d1, "other-x", "1.0.0", "builder")
	writeSet(t, d1, "plug-", "1.0.0", "builder")
	writeScript(t, d1, "plug-true", "exit 0")
	writeScript(t, d1, "plug-future", `echo '{"version":"9.0.0","protocol":99,"components":{"builder":[""]}}'`)
	if err := os.WriteFile(filepath.Join(d1, "plug-noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d1, "plug-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(d1, "missing")

	cat, err := host.Discover(context.Background(), "plug-", d1, d2, missing, d1)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []string{
		"builder demo-a builder/a 1.3.0-dev plug-demo_v1.3.0-dev",
		"builder demo-a builder/a 1.2.0 plug-demo_v1.2.0",
		"builder demo-a builder/a 1.0.0 plug-demo_v1.0.0",
		"builder demo-b builder/b 1.2.0 plug-demo_v1.2.0",
		"builder demo-old builder/old 1.0.0 plug-demo_v1.0.0",
		"builder solo builder 0.1.0 plug-solo",
		"builder solo builder  plug-solo",
		"command cmd command 2.0.0 plug-cmd",
		"command demo-c command/c 1.2.0 plug-demo_v1.2.0",
	}
	if got := brief(cat.All()); !reflect.DeepEqual(got, wantAll) {
		t.Errorf("All:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAll, "\n"))
	}
	wantPicked := []string{wantAll[0], wantAll[3], wantAll[4], wantAll[5], wantAll[7], wantAll[8]}
	if got := brief(cat.Components()); !reflect.DeepEqual(got, wantPicked) {
		t.Errorf("Components:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantPicked, "\n"))
	}
	if c, err := cat.Lookup("builder", "solo"); err != nil || c.Path != filepath.Join(d2, "plug-solo") {
		t.Errorf("Lookup(solo) = %v, %v; want the versioned one in %s", c, err, d2)
	}

	type why struct {
		reason string
		is     error // what Err wraps
	}
	wantSkipped := map[string]why{
		filepath.Join(d1, "plug-liar_v2.0.0"):  {"is named version 2.0.0 but describes version \"1.0.0\"", host.ErrBadName},
		filepath.Join(d1, "plug-nover_v2.0.0"): {"is named version 2.0.0 but describes version \"\"", host.ErrBadName},
		filepath.Join(d1, "plug-"):             {"no plugin name after the prefix", host.ErrBadName},
		filepath.Join(d1, "plug-true"):         {"describe: printed nothing on stdout", host.ErrNotPlugin},
		filepath.Join(d1, "plug-future"):       {"speaks plugwire protocol 99, this host ", host.ErrVersionMismatch},
		filepath.Join(d1, "plug-noexec"):       {"not executable", fs.ErrPermission},
		filepath.Join(d1, "plug-dir"):          {"not a regular file", nil},
		missing:                                {"no such directory", fs.ErrNotExist},
	}
	for _, s := range cat.Skipped() {
		want, ok := wantSkipped[s.Path]
		if !ok {
			t.Errorf("skipped %s: %s", s.Path, s.Reason)
			continue
		}
		delete(wantSkipped, s.Path)
		if !strings.HasPrefix(s.Reason, want.reason) {
			t.Errorf("skipped %s for %q, want a reason starting %q (not repeating the path)", s.Path, s.Reason, want.reason)
		}
		if s.Err == nil || want.is != nil && !errors.Is(s.Err, want.is) {
			t.Errorf("skipped %s with Err %v, want one wrapping %v", s.Path, s.Err, want.is)
		}
	}
	for p, r := range wantSkipped {
		t.Errorf("%s was not skipped (want %q)", p, r.reason)
	}

	for _, tc := range []struct {
		kind, name, constraint string
		want                   string // Version, or the error's text
	}{
		{"builder", "demo-a", "", "1.3.0-dev"},
		{"builder", "demo-a", "~> 1.2", "1.2.0"},
		{"builder", "demo-a", ">= 1.0, < 1.2", "1.0.0"},
		{"builder", "demo-a", "= 1.3.0-dev", "1.3.0-dev"},
		{"builder", "demo-a", "~> 2.0", `no builder "demo-a" matches "~> 2.0" (found 1.3.0-dev in ` + filepath.Join(d2, "plug-demo_v1.3.0-dev") + ", 1.2.0 in"},
		{"builder", "solo", ">= 0", "0.1.0"},
		{"builder", "demo-zzz", "", `no builder "demo-zzz" (found demo-a, demo-b, demo-old, solo)`},
		{"post-processor", "x", "", `no post-processor "x" (none was found)`},
		{"builder", "demo-a", "~>> 1", `malformed version constraint "~>> 1" for builder "demo-a"`},
		// Only a skipped binary could have served it: the error says why.
		{"builder", "future", "", `no builder "future" (found demo-a, demo-b, demo-old, solo); its only binary was skipped: ` + filepath.Join(d1, "plug-future") + ": speaks plugwire protocol 99, this host "},
		{"command", "future", "", `no command "future" (found cmd, demo-c)`}, // it describes no command: no skip named
	} {
		c, err := cat.LookupVersion(tc.kind, tc.name, tc.constraint)
		switch {
		case err == nil && c.Version != tc.want:
			t.Errorf("LookupVersion(%s, %s, %q) = %v, want version %s", tc.kind, tc.name, tc.constraint, c, tc.want)
		case err != nil && !strings.Contains(err.Error(), tc.want):
			t.Errorf("LookupVersion(%s, %s, %q) = %v, want an error containing %q", tc.kind, tc.name, tc.constraint, err, tc.want)
		case err != nil && tc.kind == "command" && strings.Contains(err.Error(), "skipped"):
			t.Errorf("LookupVersion(%s, %s, %q) = %v, naming a binary that serves no command", tc.kind, tc.name, tc.constraint, err)
		case err != nil && strings.Contains(tc.want, "no ") && !errors.Is(err, host.ErrNoComponent):
			t.Errorf("LookupVersion(%s, %s, %q) = %v, want it to wrap ErrNoComponent", tc.kind, tc.name, tc.constraint, err)
		case err != nil && strings.Contains(tc.want, "protocol 99") && !errors.Is(err, host.ErrVersionMismatch):
			t.Errorf("LookupVersion(%s, %s, %q) = %v, want it to wrap the skip's ErrVersionMismatch", tc.kind, tc.name, tc.constraint, err)
		case err != nil && strings.Contains(tc.want, "malformed") && !errors.Is(err, host.ErrBadConstraint):
			t.Errorf("LookupVersion(%s, %s, %q) = %v, want it to wrap ErrBadConstraint", tc.kind, tc.name, tc.constraint, err)
		}
	}

	// Catalogs merged are what one Discover over their directories finds.
	c1, err1 := host.Discover(context.Background(), "plug-", d1)
	c2, err2 := host.Discover(context.Background(), "plug-", d2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if got := brief(c1.Merge(c2).All()); !reflect.DeepEqual(got, wantAll) {
		t.Errorf("Merge: All:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAll, "\n"))
	}
	var none *host.Catalog // a nil catalog is an empty one
	if _, err := none.Lookup("builder", "x"); !errors.Is(err, host.ErrNoComponent) || none.Components() != nil || none.All() != nil || none.Skipped() != nil {
		t.Errorf("nil catalog: Lookup = %v", err)
	}
	if got := brief(none.Merge(cat, nil).Components()); !reflect.DeepEqual(got, wantPicked) {
		t.Errorf("nil.Merge(cat) = %q", got)
	}
	if _, err := host.Discover(context.Background(), "a/b", d1); err == nil || !strings.Contains(err.Error(), `"a/b"`) {
		t.Errorf("Discover with prefix a/b = %v, want an error naming it", err)
	}
}

// A sidecar checksum is checked before a binary is described; a wrong or
// malformed one skips the binary, a missing one does too when required.
func TestDiscoverChecksum(t *testing.T) {
	t.Parallel()
	dir, markers := t.TempDir(), t.TempDir()
	marker := func(name string) string { return envSetMarker + "=" + shellQuote(filepath.Join(markers, name+".ran")) }
	good := writeSet(t, dir, "plug-good", "1.0.0", "builder", marker("plug-good"))
	writeSidecar(t, good, "")
	bad := writeSet(t, dir, "plug-bad", "1.0.0", "builder", marker("plug-bad"))
	writeSidecar(t, bad, strings.Repeat("ab", 32))
	junk := writeSet(t, dir, "plug-junksum", "1.0.0", "builder", marker("plug-junksum"))
	writeSidecar(t, junk, "not-a-checksum")
	writeSet(t, dir, "plug-nosum", "1.0.0", "builder", marker("plug-nosum"))

	for _, require := range []bool{false, true} {
		cat, err := (host.DiscoverOptions{RequireChecksum: require}).Discover(context.Background(), "plug-", dir)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"builder good builder 1.0.0 plug-good"}
		if !require {
			want = append(want, "builder nosum builder 1.0.0 plug-nosum")
		}
		if got := brief(cat.Components()); !reflect.DeepEqual(got, want) {
			t.Errorf("require=%v: Components = %q, want %q", require, got, want)
		}
		if c, _ := cat.Lookup("builder", "good"); c.SHA256 != sha256Hex(t, good) {
			t.Errorf("good: SHA256 %q, want the binary's", c.SHA256)
		}
		reasons := map[string]string{}
		for _, s := range cat.Skipped() {
			reasons[filepath.Base(s.Path)] = s.Reason
			want := host.ErrChecksum
			if filepath.Base(s.Path) == "plug-nosum" {
				want = host.ErrNoChecksum
			}
			if !errors.Is(s.Err, want) {
				t.Errorf("require=%v: %s skipped with Err %v, want one wrapping %v", require, s.Path, s.Err, want)
			}
		}
		wantReasons := map[string]string{
			"plug-bad":     "checksum mismatch: its SHA-256 is " + sha256Hex(t, bad) + ", want abab",
			"plug-junksum": `"not-a-checksum" is not a SHA-256 in hex`,
		}
		if require {
			wantReasons["plug-nosum"] = "no checksum file " + filepath.Join(dir, "plug-nosum_SHA256SUM") + ", and checksums are required"
		}
		if len(reasons) != len(wantReasons) {
			t.Errorf("require=%v: skipped %q, want %q", require, reasons, wantReasons)
		}
		for name, w := range wantReasons {
			if !strings.Contains(reasons[name], w) {
				t.Errorf("require=%v: %s skipped for %q, want %q", require, name, reasons[name], w)
			}
		}
		// A lookup of what only a skipped binary could serve says why.
		_, err = cat.Lookup("builder", "bad")
		want = []string{`no builder "bad" (found good`, "; its only binary was skipped: " + bad + ": checksum mismatch: its SHA-256 is"}
		if !errors.Is(err, host.ErrNoComponent) || !errors.Is(err, host.ErrChecksum) ||
			!strings.Contains(err.Error(), want[0]) || !strings.Contains(err.Error(), want[1]) {
			t.Errorf("require=%v: Lookup(bad) = %v, want ErrNoComponent and ErrChecksum, saying %q", require, err, want)
		}
	}
	for _, name := range []string{"plug-bad", "plug-junksum"} {
		if _, err := os.Stat(filepath.Join(markers, name+".ran")); err == nil {
			t.Errorf("%s ran although its checksum is wrong", name)
		}
	}
	if _, err := host.Describe(context.Background(), bad); !errors.Is(err, host.ErrChecksum) {
		t.Errorf("Describe(bad) = %v, want ErrChecksum", err)
	}
}

// Config.SHA256 is checked before the binary starts; a Component's client
// checks the checksum found at discovery again, so a binary replaced since
// is refused.
func TestConfigSHA256(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ran := filepath.Join(t.TempDir(), "ran")
	path := writeSet(t, dir, "plug-x", "1.0.0", "builder/a,command/c", envSetMarker+"="+shellQuote(ran))
	sum := sha256Hex(t, path)
	logger, _ := testLogger(hclog.Trace)

	start := func(sha string) error {
		c := host.NewClient(&host.Config{Cmd: exec.Command(path), SHA256: sha, Logger: logger})
		defer c.Kill()
		_, err := host.Dispense[shared.Builder](c, "builder/a")
		return err
	}
	if err := start(strings.ToUpper(sum)); err != nil {
		t.Errorf("good checksum: %v", err)
	}
	if err := os.Remove(ran); err != nil {
		t.Fatal(err)
	}
	err := start(strings.Repeat("0", 64))
	if !errors.Is(err, host.ErrChecksum) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), sum) {
		t.Errorf("bad checksum: %v, want ErrChecksum naming %s and its SHA-256", err, path)
	}
	if err := start("xyz"); err == nil || errors.Is(err, host.ErrChecksum) || !strings.Contains(err.Error(), `Config.SHA256: "xyz" is not a SHA-256`) {
		t.Errorf("malformed checksum: %v, want an error naming it", err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the binary ran although its checksum was wrong")
	}

	writeSidecar(t, path, sum)
	cat, err := host.Discover(context.Background(), "plug-", dir)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := cat.Lookup("builder", "x-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append([]byte("#!/bin/sh\n# replaced\n"), []byte("exit 0\n")...), 0o755); err != nil {
		t.Fatal(err)
	}
	c := comp.NewClient(&host.Config{Logger: logger})
	defer c.Kill()
	if _, err := host.Dispense[shared.Builder](c, comp.Dispense); !errors.Is(err, host.ErrChecksum) {
		t.Errorf("replaced binary: %v, want ErrChecksum", err)
	}
}

// On Windows only NAME.exe is a candidate, and names drop ".exe"; the
// sidecar of NAME.exe is NAME.exe_SHA256SUM.
func TestDiscoverWindowsNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeSet(t, dir, "plug-a.exe", "1.0.0", "builder/x")
	writeSidecar(t, a, "")
	writeSet(t, dir, "plug-b_v2.0.0.EXE", "2.0.0", "command")
	writeSet(t, dir, "plug-c", "1.0.0", "builder")         // no .exe: not a program on Windows
	writeSet(t, dir, "plug-d.exe.txt", "1.0.0", "builder") // neither
	cat, err := host.DiscoverAs(context.Background(), "windows", host.DiscoverOptions{RequireChecksum: false}, "plug-", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"builder a-x builder/x 1.0.0 plug-a.exe", "command b command 2.0.0 plug-b_v2.0.0.EXE"}
	if got := brief(cat.Components()); !reflect.DeepEqual(got, want) {
		t.Errorf("Components = %q, want %q", got, want)
	}
	if c, _ := cat.Lookup("builder", "a-x"); c.SHA256 == "" {
		t.Error("plug-a.exe_SHA256SUM was not used")
	}
	if s := cat.Skipped(); len(s) != 0 {
		t.Errorf("skipped %v", s)
	}
	// The same files on this system's naming: every name is a candidate.
	cat, err = host.DiscoverAs(context.Background(), "linux", host.DiscoverOptions{}, "plug-", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(cat.Components()) + len(cat.Skipped()); got != 4 {
		t.Errorf("linux naming: %d candidates (%v, skipped %v), want 4", got, brief(cat.Components()), cat.Skipped())
	}
}

// Each component is dispensed through its own process by default, or
// through one shared process by dispensing several from one client.
func TestComponentDispense(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeSet(t, dir, "plug-set", "1.0.0", "builder/a,builder/b,command/c,command")
	cat, err := host.Discover(context.Background(), "plug-", dir)
	if err != nil {
		t.Fatal(err)
	}
	comps := cat.Components()
	if len(comps) != 4 {
		t.Fatalf("found %v", brief(comps))
	}
	use := func(cl *host.Client, c host.Component) {
		t.Helper()
		switch c.Kind {
		case shared.BuilderPluginName:
			b, err := host.Dispense[shared.Builder](cl, c.Dispense)
			if err != nil {
				t.Fatalf("%s: %v", c.Dispense, err)
			}
			if err := b.Prepare(map[string]any{"run": "say"}); err != nil {
				t.Fatal(err)
			}
			if err := b.Run(context.Background(), nil, uiFunc(func(string) {})); err != nil {
				t.Fatalf("%s: Run: %v", c.Dispense, err)
			}
		case shared.CommandPluginName:
			cmd, err := host.Dispense[shared.RemoteCommand](cl, c.Dispense)
			if err != nil {
				t.Fatalf("%s: %v", c.Dispense, err)
			}
			if got := cmd.Synopsis(); got != "a test command" {
				t.Errorf("%s: Synopsis = %q", c.Dispense, got)
			}
		}
	}
	pidOf := func(sink *logSink) []int {
		var pids []int
		for _, e := range sink.find(msgIs(helperPidMsg)) {
			n, _ := e["pid"].(float64)
			pids = append(pids, int(n))
		}
		return pids
	}

	logger, sink := testLogger(hclog.Trace)
	one := comps[0].NewClient(&host.Config{Logger: logger})
	t.Cleanup(one.Kill)
	for _, c := range comps {
		use(one, c)
	}
	if pids := pidOf(sink); len(pids) != 1 {
		t.Errorf("one client: %d processes %v, want one", len(pids), pids)
	}

	seen := map[int]bool{}
	for _, c := range comps {
		logger, sink := testLogger(hclog.Trace)
		cl := c.NewClient(&host.Config{Logger: logger})
		t.Cleanup(cl.Kill)
		use(cl, c)
		pids := pidOf(sink)
		if len(pids) != 1 || seen[pids[0]] {
			t.Errorf("%s: processes %v, want one of its own (seen %v)", c.Dispense, pids, seen)
		}
		for _, p := range pids {
			seen[p] = true
		}
	}
}

// Discover stops at its context's end, with its error.
func TestDiscoverContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 3 {
		writeScript(t, dir, fmt.Sprintf("plug-hang%d", i), "exec sleep 600")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var err error
	within(t, 5*time.Second, "Discover", func() { _, err = host.Discover(ctx, "plug-", dir) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Discover = %v, want context.DeadlineExceeded", err)
	}
}

// Dispensing what a plugin does not serve wraps ErrNoComponent and says
// how to list what its binary serves (without running it again);
// Builder() says how a set's components are dispensed.
func TestDispenseNoComponent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeSet(t, dir, "plug-set", "1.0.0", "builder/a,builder/b,command/c")
	c := host.NewClient(&host.Config{Cmd: exec.Command(path)})
	defer c.Kill()
	serves := strconv.Quote(path+" describe") + " lists what it serves)"
	for _, tc := range []struct {
		name     string
		dispense func() error
		want     []string
	}{
		{"Builder", func() error { _, err := c.Builder(); return err }, []string{`dispensing "builder" from plug-set`, `dispensed as "builder/NAME"`, serves}},
		{"Command", func() error { _, err := c.Command(); return err }, []string{`dispensing "command" from plug-set`, `dispensed as "command/NAME"`, serves}},
		{"unknown name", func() error { _, err := host.Dispense[shared.Builder](c, "builder/nope"); return err }, []string{`dispensing "builder/nope" from plug-set: no such component (` + serves}},
	} {
		err := tc.dispense()
		if !errors.Is(err, host.ErrNoComponent) {
			t.Errorf("%s: %v, want an error wrapping ErrNoComponent", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
	}
	// The client still works.
	if _, err := host.Dispense[shared.Builder](c, "builder/a"); err != nil {
		t.Errorf("builder/a after the failures: %v", err)
	}
}
