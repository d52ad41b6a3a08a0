package plugwiretest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
)

// Binary builds the main package pkg with go build, once per test binary
// (a path relative to the test's package directory, such as
// "./cmd/builder-ebs", or an import path), and returns a host client for
// it, not yet started; the client is killed when the test ends. The
// binary is named as go build names it (after the last element of the
// package's import path: builder-ebs for "." in cmd/builder-ebs), and so
// the client names it in its errors and in the plugin's log lines, which
// go to the test's log. A test binary built with -race builds the plugin
// with -race too.
//
// The binary is written in the directory that go test removes when the
// run ends; a test binary run by hand leaves it in the system's temporary
// directory.
func Binary(t testing.TB, pkg string) *host.Client {
	t.Helper()
	path, err := builds.get(pkg)
	if err != nil {
		t.Fatalf("plugwiretest.Binary: %v", err)
	}
	out := &testLog{t: t}
	c := host.NewClient(&host.Config{
		Cmd: exec.Command(path),
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "plugwiretest",
			Level:  hclog.Debug,
			Output: out,
		}),
	})
	t.Cleanup(out.close) // after Kill, which runs first
	t.Cleanup(c.Kill)
	return c
}

// builds holds the binaries this test binary built, by working directory
// and package: the one piece of package-level state, for "once per test
// binary".
var builds = buildCache{m: map[string]*build{}}

type buildCache struct {
	mu  sync.Mutex
	dir string
	m   map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

func (c *buildCache) get(pkg string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	key := wd + "\x00" + pkg
	b := c.m[key]
	if b == nil {
		b = &build{}
		c.m[key] = b
	}
	c.mu.Unlock()
	b.once.Do(func() { b.path, b.err = c.build(pkg) })
	return b.path, b.err
}

// maxBuildOutput bounds how much of go build's output an error quotes.
const maxBuildOutput = 8 << 10

func (c *buildCache) build(pkg string) (string, error) {
	c.mu.Lock()
	if c.dir == "" {
		d, err := os.MkdirTemp(workDir(), "plugwiretest-")
		if err != nil {
			c.mu.Unlock()
			return "", fmt.Errorf("making a directory for plugin binaries: %w", err)
		}
		c.dir = d
	}
	parent := c.dir
	c.mu.Unlock()
	dir, err := os.MkdirTemp(parent, "")
	if err != nil {
		return "", fmt.Errorf("making a directory for %s: %w", pkg, err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	// An -o naming a directory lets go build name the binary as it
	// would without -o (after the package's import path, with .exe on
	// Windows), whatever pkg looks like: ".", "./", "../x/...".
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, pkg)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > maxBuildOutput {
			msg = msg[:maxBuildOutput] + "..."
		}
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("go build %s: reading %s: %w", pkg, dir, err)
	}
	if len(entries) != 1 {
		return "", fmt.Errorf("go build %s wrote %d files in %s, want one binary: is it a main package?", pkg, len(entries), dir)
	}
	return filepath.Join(dir, entries[0].Name()), nil
}

// workDir is where the binaries go: next to the test binary when go test
// built it in its work directory, which go test removes at the end of the
// run, and the system's temporary directory otherwise.
func workDir() string {
	exe, err := os.Executable()
	if err == nil && strings.HasPrefix(filepath.Base(filepath.Dir(filepath.Dir(exe))), "go-build") {
		return filepath.Dir(exe)
	}
	return ""
}

// testLog writes the plugin's log lines to the test's log until the test
// ends.
type testLog struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}
