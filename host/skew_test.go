package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
)

// protocol1Commit is the last commit of this repository whose plugins
// speak plugwire protocol 1.
const protocol1Commit = "54d7c04"

// A plugin built against protocol 1, as it was released in this
// repository's history, fails a start within a round trip (well under a
// second, not its 5 s handshake timeout) with ErrVersionMismatch naming
// both versions. The test builds examples/builder-noop at that commit
// from this repository's git history, offline.
func TestStartProtocol1Plugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin from the repository's history")
	}
	t.Parallel()
	bin := buildProtocol1Plugin(t)
	c := host.NewClient(&host.Config{Cmd: exec.Command(bin), StartTimeout: time.Minute})
	defer c.Kill()
	started := time.Now()
	err := c.Start(context.Background())
	took := time.Since(started)
	if !errors.Is(err, host.ErrVersionMismatch) {
		t.Fatalf("Start of a protocol-1 plugin: %v, want ErrVersionMismatch", err)
	}
	if want := fmt.Sprintf("plugin speaks plugwire protocol 1, this host speaks %d", wire.ProtocolVersion); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// The start includes the process's own start; the handshake's part
	// is bounded by the host's wait for a greeting and a round trip.
	if bound := testutil.Slack(2 * time.Second); took > bound {
		t.Errorf("Start failed after %v, want within %v", took, bound)
	}
	t.Logf("Start failed after %v: %v", took, err)
}

// buildProtocol1Plugin builds examples/builder-noop as it was at
// protocol1Commit, with the module cache only (GOPROXY=off), and returns
// the binary. It skips the test when git or that history is not there.
func buildProtocol1Plugin(t *testing.T) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skipf("no git: %v", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git clone: %v", err)
	}
	var archive bytes.Buffer
	cmd := exec.Command(git, "archive", "--format=tar", protocol1Commit)
	cmd.Dir = strings.TrimSpace(string(top))
	cmd.Stdout = &archive
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Skipf("git archive %s (not a clone of the repository with its history?): %v: %s", protocol1Commit, err, stderr.String())
	}
	tar := exec.Command("tar", "-x", "-C", src)
	tar.Stdin = &archive
	if out, err := tar.CombinedOutput(); err != nil {
		t.Skipf("tar: %v: %s", err, out)
	}
	bin := filepath.Join(dir, "packer-builder-noop")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command(goTool, "build", "-o", bin, "./examples/builder-noop")
	build.Dir = src
	build.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("GOPROXY=off")) || bytes.Contains(out, []byte("module lookup disabled")) {
			t.Skipf("the modules of %s are not in the module cache: %s", protocol1Commit, out)
		}
		t.Fatalf("building the protocol-1 plugin: %v\n%s", err, out)
	}
	return bin
}
