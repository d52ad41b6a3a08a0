package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSlack runs the test binary with each value of PLUGWIRE_TEST_SLACK
// and checks what Slack makes of a second, or that a bad value ends the
// binary naming the variable and the value.
func TestSlack(t *testing.T) {
	if v, ok := os.LookupEnv("PLUGWIRE_TESTUTIL_SLACK_PRINT"); ok && v == "1" {
		os.Stdout.WriteString(Slack(time.Second).String())
		os.Exit(0)
	}
	for _, tc := range []struct {
		value, want string
		ok          bool
	}{
		{"", "1s", true},
		{"1", "1s", true},
		{"2.5", "2.5s", true},
		{"0.5", `PLUGWIRE_TEST_SLACK="0.5": want a factor of at least 1`, false},
		{"fast", `PLUGWIRE_TEST_SLACK="fast": want a factor of at least 1`, false},
		{"Inf", `PLUGWIRE_TEST_SLACK="Inf": want a factor of at least 1`, false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSlack$")
		cmd.Env = append(os.Environ(), "PLUGWIRE_TESTUTIL_SLACK_PRINT=1", SlackEnv+"="+tc.value)
		out, err := cmd.CombinedOutput()
		if tc.ok != (err == nil) || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s=%q: %v, output %q; want success %v with %q", SlackEnv, tc.value, err, out, tc.ok, tc.want)
		}
	}
}
