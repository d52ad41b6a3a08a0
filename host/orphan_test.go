package host_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// If the host is SIGKILLed, at any moment, its plugin exits on its own
// within its grace period + 1 s: through its lifeline (an inherited descriptor, not stdin: a
// stdin the host gives that never ends changes nothing) or, when the
// plugin dropped its lifeline, through its connection.
func TestPluginOutlivesNoHost(t *testing.T) {
	t.Parallel()
	if err := becomeSubreaper(); err != nil {
		t.Logf("cannot become a child subreaper (%v): orphans are checked through /proc", err)
	}
	for _, moment := range []string{"starting", "starting-stdin", "idle", "idle-nolifeline", "idle-stdin", "idle-many", "idle-many-nolifeline", "midcall"} {
		t.Run(moment, func(t *testing.T) {
			t.Parallel()
			pid, sigkill := hostAt(t, moment)
			killed := sigkill()
			// A plugin in the midst of a call that ignores its ctx gives
			// it the grace period before it exits.
			limit := testutil.Slack(hostHelperGrace + time.Second)
			if !waitGone(pid, limit) {
				_ = killPid(pid)
				t.Fatalf("plugin %d still running %v after its host was SIGKILLed (%s)", pid, limit, moment)
			}
			t.Logf("plugin exited %v after its host was SIGKILLed", time.Since(killed).Round(time.Millisecond))
		})
	}
}

// hostAt starts the "host" helper with env, waits until it has reached
// moment, and returns its plugin's pid and a function that SIGKILLs the
// host, waits until it is reaped and returns when it was killed.
func hostAt(t *testing.T, moment string, env ...string) (pid int, sigkill func() time.Time) {
	t.Helper()
	hostCmd := exec.Command(testExe)
	hostCmd.Env = helperEnv("host", append([]string{envMoment + "=" + moment}, env...)...)
	out, err := hostCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	hostErr := &testutil.Buffer{}
	hostCmd.Stderr = hostErr
	var stdin *os.File
	if strings.HasSuffix(moment, "stdin") {
		// The host passes this stdin on to its plugin; the test
		// keeps it open past the host's death.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Close() })
		hostCmd.Stdin, stdin = r, r
	}
	if err := hostCmd.Start(); err != nil {
		t.Fatal(err)
	}
	if stdin != nil {
		_ = stdin.Close()
	}
	hostDone := make(chan struct{})
	go func() {
		_ = hostCmd.Wait()
		close(hostDone)
	}()
	t.Cleanup(func() {
		_ = hostCmd.Process.Kill()
		<-hostDone
	})

	// Read the host helper's log until the plugin's pid and, unless
	// the moment is "starting", the moment itself.
	var log []string
	reached := strings.HasPrefix(moment, "starting")
	timeout := time.After(20 * time.Second)
	sc := bufio.NewScanner(out)
	linec := make(chan string)
	go func() {
		defer close(linec)
		for sc.Scan() {
			linec <- sc.Text()
		}
	}()
	for pid == 0 || !reached {
		select {
		case line, ok := <-linec:
			if !ok {
				t.Fatalf("host helper ended early; its stdout:\n%s\nstderr:\n%s", strings.Join(log, "\n"), hostErr.String())
			}
			log = append(log, line)
			var e entry
			if json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			switch {
			case e.msg() == helperPidMsg:
				pid = int(e["pid"].(float64))
			case e.msg() == "hosthelper: at "+moment:
				reached = true
			}
		case <-timeout:
			t.Fatalf("host helper did not reach %q in 20 s; its stdout:\n%s", moment, strings.Join(log, "\n"))
		}
	}
	go func() {
		for range linec { // drain until the host is gone
		}
	}()
	return pid, func() time.Time {
		// Timed before the kill: the plugin may see its host's death
		// before Kill returns here (Windows, a loaded machine).
		killed := time.Now()
		if err := hostCmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-hostDone
		return killed
	}
}

// A plugin whose host never connects exits on its own after
// PLUGWIRE_CONNECT_TIMEOUT, with one line saying so.
func TestPluginHostNeverConnects(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(testExe)
	cmd.Env = helperEnv("bare",
		"PACKER_PLUGIN_MIN_PORT=10000", "PACKER_PLUGIN_MAX_PORT=25000",
		"PLUGWIRE_SECRET="+validSecret, "PLUGWIRE_CONNECT_TIMEOUT=1s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	outLines := lines(stdout)
	var addr string
	select {
	case addr = <-outLines:
	case <-time.After(10 * time.Second):
		t.Fatal("no address line within 10 s")
	}
	printed := time.Now()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address line %q", addr)
	}
	for range outLines { // until the plugin closes stdout
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("plugin exited with %v, want exit status 1", err)
	}
	took := time.Since(printed)
	if took > testutil.Slack(2*time.Second) || took < 900*time.Millisecond {
		t.Errorf("plugin exited %v after printing its address, want about 1 s", took)
	}
	if s := stderr.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "no host connected") {
		t.Errorf("stderr %q, want one line saying no host connected", s)
	}
}
