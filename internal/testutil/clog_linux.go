package testutil

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitClogged waits until a connection to the local port has a megabyte
// queued that its peer does not take (tx_queue in /proc/net/tcp): a
// process stopped with SIGSTOP reads nothing, and its host's yamux send
// loop is then blocked in a write. It skips the test where there is no
// /proc/net/tcp.
func WaitClogged(t testing.TB, port string) {
	t.Helper()
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	rem := strings.ToUpper(strconv.FormatInt(int64(n), 16))
	for len(rem) < 4 {
		rem = "0" + rem
	}
	deadline := time.Now().Add(time.Minute) // setup, not a promise: a loaded machine is slow to fill it
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
// than the clogged one may match (a port is reused once its plugin
// accepted its host), but only a stopped peer's connection queues a
// megabyte.
func txQueue(t testing.TB, rem string) int64 {
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
