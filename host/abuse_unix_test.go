//go:build unix

package host_test

// Unix only: the abused plugin lowers its descriptor limit (setrlimit) and
// is released by SIGUSR1; Windows has neither.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/wire"
)

func init() {
	// lowfd serves with a descriptor limit a few above what it has open,
	// and holds its address line back until SIGUSR1, so that a test can
	// abuse the port before the host arrives.
	moreHelpers["lowfd"] = func() int {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		real := os.Stdout
		r, w, err := os.Pipe()
		if err != nil {
			return 1
		}
		os.Stdout = w
		open := openFiles()
		limit := syscall.Rlimit{Cur: uint64(open + 10)}
		var old syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			return 1
		}
		limit.Max = old.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
			fmt.Fprintln(os.Stderr, "helper: setrlimit:", err)
			return 1
		}
		go func() {
			br := bufio.NewReader(r)
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			helperLogger().Info("lowfd: listening", "addr", strings.TrimSpace(line), "open", open, "limit", limit.Cur)
			<-usr1
			_, _ = real.WriteString(line)
			_, _ = io.Copy(real, br)
		}()
		return serveHelper()
	}
}

// openFiles counts this process's open descriptors.
func openFiles() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if ents, err := os.ReadDir(dir); err == nil {
			return len(ents)
		}
	}
	return 16
}

// The threat model's promise: a local process racing to the port cannot
// keep the host out. A plugin with a descriptor limit only 10 above what
// it has open gets hundreds of connections (silent, garbage, wrong
// proofs, closed at once) before its host arrives, and more while the
// host connects; the host still connects and every call works.
func TestAbuseBeforeHost(t *testing.T) {
	t.Parallel()
	// A port of its own: once the host is in, no other test's plugin may
	// take it and answer the check that the port is shut.
	port := freePorts(t, 1, 31800)
	p := newPlug(t, &host.Config{MinPort: port, MaxPort: port}, "lowfd")
	sink := p.log
	started := make(chan error, 1)
	go func() { started <- p.Start(context.Background()) }()
	e := sink.waitFor(t, 20*time.Second, "the plugin listening", msgIs("lowfd: listening"))
	addr := e.str("addr")
	pid := p.pid(t)

	const n = 400
	var mu sync.Mutex
	var conns []net.Conn
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatalf("abuse connection %d: %v", i, err)
		}
		switch i % 4 {
		case 0: // silent
			keep(c)
		case 1: // garbage
			_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: plugin\r\n\r\n"))
			keep(c)
		case 2: // plugwire without the secret
			_, _ = c.Write(append(wire.Intro(wire.ProtocolVersion), make([]byte, wire.ProofSize)...))
			keep(c)
		case 3: // gone at once
			_ = c.Close()
		}
	}
	// More silent ones while the host connects.
	stopFlood := make(chan struct{})
	floodDone := make(chan int)
	go func() {
		flood := 0
		defer func() { floodDone <- flood }()
		for {
			select {
			case <-stopFlood:
				return
			default:
			}
			if c, err := net.Dial("tcp4", addr); err == nil {
				keep(c)
				flood++
			} else {
				return // the listener is closed: the host is in
			}
			time.Sleep(2 * time.Millisecond) // the pace of the flood
		}
	}()
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("Start still running 30 s after the plugin announced its address")
	}
	took := time.Since(t0)
	close(stopFlood)
	flood := <-floodDone
	if err != nil {
		t.Fatalf("Start under abuse: %v", err)
	}
	b := preparedBuilder(t, p, map[string]any{"run": "say"})
	for i := range 50 {
		said := 0
		if err := b.Run(context.Background(), nil, uiFunc(func(string) { said++ })); err != nil || said != 1 {
			t.Fatalf("call %d after the abuse: %v (said %d)", i, err, said)
		}
	}
	cmd, err := p.Command()
	if err != nil {
		t.Fatal(err)
	}
	if s := cmd.Synopsis(); s != "a test command" {
		t.Errorf("Synopsis = %q", s)
	}
	if c, err := net.Dial("tcp4", addr); err == nil {
		c.Close()
		t.Error("the port still accepts connections after the host connected")
	}
	t.Logf("descriptor limit %v (%v open at start); %d abusive connections before the host, %d during; host connected %v after the address was released; 51 calls worked",
		e["limit"], e["open"], n, flood, took.Round(time.Millisecond))
}
