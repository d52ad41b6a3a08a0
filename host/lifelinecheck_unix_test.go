//go:build unix

package host_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/internal/wire"
)

// A plugin run with PLUGWIRE_LIFELINE naming a descriptor the host did not
// pass (a script that copied a host's environment, a wrapper that closed
// descriptors) fails at once, before it listens or prints an address,
// naming the variable and what the descriptor is.
func TestPluginLifelineNotThere(t *testing.T) {
	t.Parallel()
	file, err := os.CreateTemp(t.TempDir(), "notapipe")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	for _, tc := range []struct {
		name  string
		value string
		extra []*os.File
		want  string
	}{
		// The Go runtime may hold the first numbers after 2 (cgroup files
		// on Linux): the plugin says what it finds there.
		{"none passed", "3", nil, "PLUGWIRE_LIFELINE=3: descriptor 3 is "},
		{"not open", "20", []*os.File{file}, "PLUGWIRE_LIFELINE=20: descriptor 20 is not open"},
		{"a regular file", "3", []*os.File{file}, "PLUGWIRE_LIFELINE=3: descriptor 3 is a regular file"},
		{"a socket", "3", []*os.File{sock}, "PLUGWIRE_LIFELINE=3: descriptor 3 is a socket"},
		{"not a number", "three", nil, `PLUGWIRE_LIFELINE="three" is not a descriptor number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(testExe)
			cmd.Env = helperEnv("bare",
				wire.EnvMinPort+"=10000", wire.EnvMaxPort+"=25000",
				wire.EnvSecret+"="+validSecret, wire.EnvConnectTimeout+"=30s",
				wire.EnvLifeline+"="+tc.value)
			cmd.ExtraFiles = tc.extra
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("plugin exited with %v, want exit status 1", err)
			}
			if stdout.Len() > 0 {
				t.Errorf("plugin printed %q on stdout, want nothing: it must fail before it listens", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q, want it to say %q", stderr.String(), tc.want)
			}
		})
	}
}
