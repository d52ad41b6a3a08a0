package host_test

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// A plugin that announces an address nobody can be reached at, and lives
// on, fails its start with ErrConnect naming the address, not with
// ErrProcessExited or a bare dial error: nothing listens on port 1
// (refused), and 127.255.255.255, the loopback network's broadcast
// address, cannot be connected to (Linux: network is unreachable).
func TestConnectFailsWhilePluginLives(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr string
		errno      error // on Linux
	}{
		{"refused", "127.0.0.1:1", testutil.ECONNREFUSED},
		{"unreachable", "127.255.255.255:9", syscall.ENETUNREACH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "unreachable" && runtime.GOOS != "linux" {
				t.Skip("a broadcast address is refused this way on Linux only")
			}
			p := newPlug(t, nil, "line", envLine+"="+strconv.Quote(tc.addr+"\n"))
			var err error
			within(t, 5*time.Second, "Builder() of a plugin at "+tc.addr, func() { _, err = p.Builder() })
			if !errors.Is(err, host.ErrConnect) || errors.Is(err, host.ErrProcessExited) {
				t.Fatalf("Builder() = %v, want an error wrapping ErrConnect and not ErrProcessExited", err)
			}
			if !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("error %q does not name the address %s", err, tc.addr)
			}
			if runtime.GOOS == "linux" && !errors.Is(err, tc.errno) {
				t.Errorf("error %v does not wrap %v", err, tc.errno)
			}
			if !p.Exited() {
				t.Error("the plugin still runs after its start failed")
			}
		})
	}
}
