package host_test

// Linux only: freezing a process takes SIGSTOP (none on Windows), and the
// test sees the connection clogged through /proc/net/tcp (none on macOS).

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// Kill of a frozen plugin (SIGSTOP: it reads nothing, so the connection's
// buffers fill) with many dispensed objects and large calls in flight
// still returns within grace + 1 s.
func TestKillFrozenPlugin(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	p := newPlug(t, &host.Config{KillGrace: grace}, "serve")
	bs := dispenseMany(t, p, 50)
	pid := p.pid(t)
	_, port, err := net.SplitHostPort(p.log.waitFor(t, time.Second, "for the plugin's address", msgIs("plugin connected")).str("addr"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	big := map[string]interface{}{"blob": strings.Repeat("x", 200<<10)}
	errc := make(chan error, len(bs))
	for _, b := range bs {
		go func() { errc <- b.Prepare(big) }()
	}
	waitClogged(t, port)
	within(t, grace+time.Second, "Kill of a frozen plugin with 50 large calls in flight", p.Kill)
	for range bs {
		select {
		case err := <-errc:
			if !errors.Is(err, host.ErrProcessExited) {
				t.Errorf("Prepare in flight during Kill: %v, want an error wrapping ErrProcessExited", err)
			}
		case <-time.After(testutil.Slack(2 * time.Second)):
			t.Fatal("a Prepare still in flight 2 s after Kill returned")
		}
	}
	assertReaped(t, pid)
}

// waitClogged waits until the host's connection to the plugin listening
// on port has a megabyte queued that the plugin does not take (tx_queue
// in /proc/net/tcp): yamux's send loop is then blocked in its write.
func waitClogged(t *testing.T, port string) {
	t.Helper()
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	rem := strings.ToUpper(strconv.FormatInt(int64(n), 16))
	for len(rem) < 4 {
		rem = "0" + rem
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if txQueue(t, ":"+rem) >= 1<<20 {
			return
		}
		time.Sleep(time.Millisecond) // polling /proc: there is nothing to wait on
	}
	t.Fatalf("the connection to port %s never filled up", port)
}

// txQueue returns the largest send queue of the established sockets in
// /proc/net/tcp whose remote address ends in rem (":PORT" in hex). Others
// than the host's may match (a port is reused once its plugin accepted its
// host), but only a frozen plugin's host queues a megabyte.
func txQueue(t *testing.T, rem string) int64 {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	defer f.Close()
	var max int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.HasSuffix(fields[2], rem) || fields[3] != "01" {
			continue
		}
		tx, _, _ := strings.Cut(fields[4], ":")
		if q, err := strconv.ParseInt(tx, 16, 64); err == nil && q > max {
			max = q
		}
	}
	return max
}
