package contract_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/internal/testutil"
	"go.uber.org/goleak"
)

// envHelper makes the test binary a plugin: "example" serves the
// package example's Greeter, "tester" the tests' contract.
const envHelper = "CONTRACT_TEST_HELPER" // not PLUGWIRE_*: a host passes it on to describe

func TestMain(m *testing.M) {
	switch h := os.Getenv(envHelper); h {
	case "":
	case "example":
		examplePlugin()
		os.Exit(0)
	case "tester":
		testerPlugin()
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: no such helper\n", envHelper, h)
		os.Exit(2)
	}
	testutil.RefuseArguments()
	goleak.VerifyTestMain(m)
}

// helperCmd runs the test binary as the helper plugin h.
func helperCmd(h string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(exe)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGWIRE_") && !strings.HasPrefix(kv, "GORACE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envHelper+"="+h, "GORACE=atexit_sleep_ms=0")
	return cmd
}
