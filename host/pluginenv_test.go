package host_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
)

// validSecret is a well-formed PLUGWIRE_SECRET (64 hex digits).
var validSecret = strings.Repeat("0123456789abcdef", 4)

// runByHand runs the plugin helper as a person would, with only env (and
// no host), and returns its exit code, stdout and stderr.
func runByHand(t *testing.T, env ...string) (code int, stdout, stderr string) {
	t.Helper()
	code, stdout, stderr, _ = runByHandCPU(t, env...)
	return code, stdout, stderr
}

// runByHandCPU is runByHand that also returns the CPU time (user and
// system) the process used.
func runByHandCPU(t *testing.T, env ...string) (code int, stdout, stderr string, cpu time.Duration) {
	t.Helper()
	cmd := exec.Command(testExe)
	cmd.Env = helperEnv("bare", env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, out.String(), errb.String(), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// wantOneLine checks a plugin that refused its environment: exit status 1,
// nothing on stdout, exactly one line on stderr containing each of want,
// and no stack trace.
func wantOneLine(t *testing.T, code int, stdout, stderr string, want ...string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	if !strings.HasSuffix(stderr, "\n") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q, want exactly one line", stderr)
	}
	if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr %q holds a stack trace", stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not contain %q", stderr, w)
		}
	}
}

// A plugin run by hand or with a bad environment prints one clear line on
// stderr naming the variable and the bad value, and exits 1.
func TestPluginBadEnvironment(t *testing.T) {
	t.Parallel()
	const (
		minV = "PACKER_PLUGIN_MIN_PORT"
		maxV = "PACKER_PLUGIN_MAX_PORT"
	)
	ok := []string{minV + "=10000", maxV + "=25000", "PLUGWIRE_SECRET=" + validSecret}
	with := func(kv ...string) []string {
		env := append([]string(nil), ok...)
		for _, s := range kv {
			name := s[:strings.IndexByte(s, '=')+1]
			replaced := false
			for i := range env {
				if strings.HasPrefix(env[i], name) {
					env[i], replaced = s, true
				}
			}
			if !replaced {
				env = append(env, s)
			}
		}
		return env
	}
	without := func(name string) []string {
		var env []string
		for _, kv := range ok {
			if !strings.HasPrefix(kv, name+"=") {
				env = append(env, kv)
			}
		}
		return env
	}
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"no variables", nil, []string{"plugin", "started by a host", "not by hand"}},
		{"no variables but the secret", []string{"PLUGWIRE_SECRET=" + validSecret}, []string{"not by hand"}},
		{"min missing", without(minV), []string{minV, "not set"}},
		{"max missing", without(maxV), []string{maxV, "not set"}},
		{"secret missing", without("PLUGWIRE_SECRET"), []string{"PLUGWIRE_SECRET", "not set"}},
		{"min not a number", with(minV + "=ten"), []string{minV, `"ten"`}},
		{"max not a number", with(maxV + "=25k"), []string{maxV, `"25k"`}},
		{"min empty", with(minV + "="), []string{minV, `""`}},
		{"min negative", with(minV + "=-5"), []string{minV, "-5"}},
		{"max negative", with(maxV + "=-1"), []string{maxV, "-1"}},
		{"min zero", with(minV + "=0"), []string{minV, "0"}},
		{"max above 65535", with(maxV + "=70000"), []string{maxV, "70000"}},
		{"min above 65535", with(minV+"=70000", maxV+"=70001"), []string{minV, "70000"}},
		{"min above max", with(minV+"=20000", maxV+"=10000"), []string{minV, "20000", maxV, "10000"}},
		{"overlong value", with(minV + "=" + strings.Repeat("9", 5000)), []string{minV, "99999", "(5000 bytes)"}},
		{"secret not hex", with("PLUGWIRE_SECRET=zz" + validSecret[2:]), []string{"PLUGWIRE_SECRET", "64 hex digits"}},
		{"secret too short", with("PLUGWIRE_SECRET=abcd"), []string{"PLUGWIRE_SECRET", "64 hex digits"}},
		{"connect timeout not a duration", with("PLUGWIRE_CONNECT_TIMEOUT=soon"), []string{"PLUGWIRE_CONNECT_TIMEOUT", `"soon"`}},
		{"connect timeout negative", with("PLUGWIRE_CONNECT_TIMEOUT=-1s"), []string{"PLUGWIRE_CONNECT_TIMEOUT", `"-1s"`}},
		{"lifeline on stdin (an older host)", with("PLUGWIRE_LIFELINE=stdin"), []string{"PLUGWIRE_LIFELINE", `"stdin"`}},
		{"lifeline negative", with("PLUGWIRE_LIFELINE=-1"), []string{"PLUGWIRE_LIFELINE", `"-1"`}},
		{"lifeline not open", with("PLUGWIRE_LIFELINE=987652"), []string{"PLUGWIRE_LIFELINE=987652", "not open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runByHand(t, tc.env...)
			wantOneLine(t, code, stdout, stderr, tc.want...)
			if strings.Contains(stderr, validSecret) {
				t.Errorf("stderr %q reveals the secret", stderr)
			}
		})
	}
}

// occupy listens on n consecutive ports of 127.0.0.1 and returns the
// first; the listeners are closed when the test ends. It uses ports above
// the default plugin range and below the usual ephemeral one.
func occupy(t *testing.T, n int, base int) int {
	t.Helper()
	for first := base; first+n <= 32768; first += n {
		var lns []net.Listener
		ok := true
		for p := first; p < first+n; p++ {
			ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		if ok {
			t.Cleanup(func() {
				for _, ln := range lns {
					_ = ln.Close()
				}
			})
			return first
		}
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	t.Fatalf("found no %d free consecutive ports", n)
	return 0
}

// Every port of the range taken: the protocol's token on stdout for the
// host, one line naming the range on stderr for a person, fast even for
// thousands of ports.
func TestPluginPortRangeTaken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, base int
	}{{200, 25500}, {3000, 26000}} {
		t.Run(fmt.Sprintf("%d ports", tc.n), func(t *testing.T) {
			t.Parallel()
			first := occupy(t, tc.n, tc.base)
			last := first + tc.n - 1
			var code int
			var stdout, stderr string
			var cpu time.Duration
			// What a plugin's start costs before it looks at a port (it
			// refuses its secret), measured beside the run it is taken
			// from: on Linux about 16 ms; under Wine, with -race, from
			// 60 ms alone to 16 s while the package's other tests run,
			// the same for 200 ports as for 3000.
			_, _, _, start := runByHandCPU(t, "PLUGWIRE_SECRET=not-hex")
			// Fast is judged by the CPU time the plugin spent, which a
			// loaded machine does not stretch as it does the wall clock
			// (the start of a race-instrumented binary took 3 s at a load
			// of 25); the wall clock only catches a wait per port.
			within(t, 10*time.Second, fmt.Sprintf("a plugin finding %d ports taken", tc.n), func() {
				code, stdout, stderr, cpu = runByHandCPU(t,
					"PACKER_PLUGIN_MIN_PORT="+strconv.Itoa(first),
					"PACKER_PLUGIN_MAX_PORT="+strconv.Itoa(last),
					"PLUGWIRE_SECRET="+validSecret)
			})
			if limit := testutil.Slack(2 * time.Second); cpu-start > limit {
				t.Errorf("a plugin finding %d ports taken used %v of CPU, %v more than a start that looks at no port, want at most %v more", tc.n, cpu, cpu-start, limit)
			}
			t.Logf("%d ports taken: %v of CPU (a start that looks at no port: %v)", tc.n, cpu, start)
			if stdout != wire.NoFreePortLine+"\n" {
				t.Errorf("stdout %q, want the token %q", stdout, wire.NoFreePortLine)
			}
			wantOneLine(t, code, "", stderr, fmt.Sprintf("%d-%d", first, last), "no free port")
		})
	}
}
