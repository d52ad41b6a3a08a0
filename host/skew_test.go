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

// olderProtocols are the last commits of this repository whose plugins
// speak an older plugwire protocol, by version: 1 had the host speak
// first; 2 greeted as today but its calls crossed in the encoding of the
// hand-written Builder and Command RPC, before package contract; 3 carried
// a contract's stream arguments on their yamux streams, before their side
// connections.
var olderProtocols = []struct {
	version uint32
	commit  string
}{
	{1, "54d7c04"},
	{2, "7d0d269"},
	{3, "6ba4b2e"},
}

// A plugin built against an older protocol, as it was released in this
// repository's history, fails a start within a round trip (well under a
// second, not its 5 s handshake timeout) with ErrVersionMismatch naming
// both versions. The test builds examples/builder-noop at that commit
// from this repository's git history, offline.
func TestStartOlderProtocolPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins from the repository's history")
	}
	for _, old := range olderProtocols {
		t.Run(fmt.Sprintf("protocol %d", old.version), func(t *testing.T) {
			t.Parallel()
			bin := buildOldPlugin(t, old.commit)
			c := host.NewClient(&host.Config{Cmd: exec.Command(bin), StartTimeout: time.Minute})
			defer c.Kill()
			started := time.Now()
			err := c.Start(context.Background())
			took := time.Since(started)
			if !errors.Is(err, host.ErrVersionMismatch) {
				t.Fatalf("Start of a protocol-%d plugin: %v, want ErrVersionMismatch", old.version, err)
			}
			if want := fmt.Sprintf("plugin speaks plugwire protocol %d, this host speaks %d", old.version, wire.ProtocolVersion); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			// The start includes the process's own start; the handshake's
			// part is bounded by the host's wait for a greeting and a round
			// trip.
			if bound := testutil.Slack(2 * time.Second); took > bound {
				t.Errorf("Start failed after %v, want within %v", took, bound)
			}
			t.Logf("Start failed after %v: %v", took, err)
		})
	}
}

// buildOldPlugin builds examples/builder-noop as it was at commit, with the module cache only (GOPROXY=off), and returns
// the binary. It skips the test when git or that history is not there.
func buildOldPlugin(t *testing.T, commit string) string {
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
	cmd := exec.Command(git, "archive", "--format=tar", commit)
	cmd.Dir = strings.TrimSpace(string(top))
	cmd.Stdout = &archive
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Skipf("git archive %s (not a clone of the repository with its history?): %v: %s", commit, err, stderr.String())
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
			t.Skipf("the modules of %s are not in the module cache: %s", commit, out)
		}
		t.Fatalf("building the plugin of %s: %v\n%s", commit, err, out)
	}
	return bin
}
