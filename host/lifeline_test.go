package host_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
)

// A plugin whose host goes away after it announced its address and before
// connecting exits within 2 s, through its lifeline, although its stdin
// stays open; it says why on stderr.
func TestPluginLifelineBeforeConnect(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(testExe)
	cmd.Env = helperEnv("bare",
		wire.EnvMinPort+"=10000", wire.EnvMaxPort+"=25000",
		wire.EnvSecret+"="+validSecret, wire.EnvConnectTimeout+"=30s")
	lr, lw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	v, err := wire.PassLifeline(cmd, lr)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cmd.Env, wire.EnvLifeline+"="+v)
	sr, sw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close() // the plugin's stdin stays open throughout
	cmd.Stdin = sr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = sr.Close()
	_ = lr.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	out := lines(stdout)
	select {
	case <-out:
	case <-time.After(10 * time.Second):
		t.Fatal("no address line within 10 s")
	}
	_ = lw.Close() // the host is gone
	gone := time.Now()
	for range out { // until the plugin closes stdout
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("plugin exited with %v, want exit status 1", err)
	}
	if took := time.Since(gone); took > testutil.Slack(2*time.Second) {
		t.Errorf("plugin exited %v after its lifeline ended, want within 2 s", took)
	}
	if s := stderr.String(); !strings.Contains(s, "host went away before connecting") {
		t.Errorf("stderr %q, want a line saying the host went away", s)
	}
}
