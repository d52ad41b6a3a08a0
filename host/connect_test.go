package host_test

import (
	"errors"
	"net"
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

// A plugin that dies while the host waits for its answer fails the start
// with ErrProcessExited at once, even when whatever holds the connection's
// other end neither answers nor closes it (here a listener of this test's,
// standing for a process that took the port the dying plugin freed): the
// host stops waiting when its own plugin exits, not at the answer's
// 10 s deadline. Seen under Wine in TestKilledDuringStart.
func TestPluginDiesDuringHandshake(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // held open, silent
		}
	}()
	p := newPlug(t, nil, "line", envLine+"="+strconv.Quote(ln.Addr().String()+"\n"))
	errc := make(chan error, 1)
	go func() {
		_, err := p.Builder()
		errc <- err
	}()
	var held net.Conn
	select {
	case held = <-accepted:
		defer held.Close()
	case err := <-errc:
		t.Fatalf("Builder() = %v before connecting", err)
	case <-time.After(testutil.Slack(20 * time.Second)):
		t.Fatal("the host did not connect")
	}
	if err := killPid(p.startedPid(t)); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case err := <-errc:
		wantExited(t, "Builder() of a plugin killed during the handshake", err, killedStatus)
		t.Logf("start failed %v after the kill", time.Since(killed).Round(time.Millisecond))
	case <-time.After(testutil.Slack(3 * time.Second)):
		t.Fatal("Builder() still waiting for an answer 3 s after its plugin was killed")
	}
}
