//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugwire/plugwire/builderplugin"
	"github.com/plugwire/plugwire/shared"
)

// envPlugin, set to "1", makes the soak binary serve soakBuilder.
const envPlugin = "PLUGWIRE_SOAK_PLUGIN"

// envExitAfter, a duration, makes the plugin exit with status 3 that long
// after it starts.
const envExitAfter = "PLUGWIRE_SOAK_EXIT_AFTER"

// errRemote is what Run returns for op "remote-err": it wraps
// context.DeadlineExceeded, as a builder's timed-out SSH dial would.
var errRemote = fmt.Errorf("ssh: dial 10.0.0.7:22: %w", context.DeadlineExceeded)

func runPlugin() {
	// No plugin may outlive a soak that forgot it.
	time.AfterFunc(10*time.Minute, func() { os.Exit(9) })
	if d, err := time.ParseDuration(os.Getenv(envExitAfter)); err == nil {
		// A plugin that crashes soon after each start: a crash loop.
		time.AfterFunc(d, func() {
			fmt.Fprintln(os.Stderr, "soak plugin: crashing soon after the start")
			os.Exit(3)
		})
	}
	builderplugin.Serve(&soakBuilder{})
}

// soakBuilder does what its config's "op" says.
type soakBuilder struct {
	mu  sync.Mutex
	cfg map[string]any

	prepared atomic.Int64 // Prepares of "reply-exit" returned
}

// callsInFlight reports whether a net/rpc call is being served: a method
// running or its reply being written.
func callsInFlight() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Contains(string(buf), "\nnet/rpc.(*service).call(")
}

func (b *soakBuilder) str(k string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, _ := b.cfg[k].(string)
	return s
}

func (b *soakBuilder) num(k string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, _ := b.cfg[k].(float64)
	return int(n)
}

func (b *soakBuilder) Prepare(config any) error {
	m, _ := config.(map[string]any)
	switch m["op"] {
	case "mark":
		return nil
	case "crash-soon":
		// Crash while idle, or while the host's next calls are in flight.
		go func() {
			time.Sleep(time.Duration(rand.N(20)) * time.Millisecond)
			fmt.Fprintln(os.Stderr, "soak plugin: crashing on purpose, soon")
			os.Exit(3)
		}()
		return nil
	case "reply-exit":
		// Exit as soon as the n-th reply has been written: net/rpc
		// serves each call in (*service).call, which writes the reply
		// before it returns.
		n, _ := m["n"].(float64)
		defer func() {
			if b.prepared.Add(1) != int64(n) {
				return
			}
			go func() {
				for callsInFlight() {
					runtime.Gosched()
				}
				os.Exit(0)
			}()
		}()
		return nil
	}
	b.mu.Lock()
	b.cfg = m
	b.mu.Unlock()
	return nil
}

func (b *soakBuilder) Run(ctx context.Context, _ shared.Build, ui shared.Ui) error {
	switch op := b.str("op"); op {
	case "say":
		for i := range b.num("lines") {
			ui.Say("line %d", i)
		}
		return nil
	case "cleanup":
		ui.Say("ready %d", os.Getpid())
		<-ctx.Done()
		time.Sleep(time.Duration(b.num("teardown_ms")) * time.Millisecond) // deleting the VM
		if err := os.WriteFile(b.str("marker"), []byte(ctx.Err().Error()), 0o600); err != nil {
			return err
		}
		return ctx.Err()
	case "ignore":
		ui.Say("ready %d", os.Getpid())
		time.Sleep(time.Hour)
		return nil
	case "crash":
		ui.Say("ready %d", os.Getpid())
		fmt.Fprintln(os.Stderr, "soak plugin: crashing on purpose")
		os.Exit(3)
	case "panic":
		ui.Say("ready %d", os.Getpid())
		go panic("soak plugin: panic in a goroutine")
		select {} // the panic ends the process
	case "method-panic":
		panic("soak plugin: panic in Run")
	case "remote-err":
		return errRemote
	case "flood":
		line := "[INFO] flood " + strings.Repeat("x", 114) + "\n"
		chunk := strings.Repeat(line, 64)
		for n := 0; n < b.num("bytes"); n += len(chunk) {
			fmt.Fprint(os.Stdout, chunk)
			fmt.Fprint(os.Stderr, chunk)
		}
		ui.Say("flooded")
		return nil
	case "grandchild":
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			return err
		}
		ui.Say("ready %d %d", os.Getpid(), cmd.Process.Pid)
		time.Sleep(time.Hour) // ignores ctx: only a forced kill ends both
		return nil
	default:
		return errors.New("soak plugin: unknown op " + op)
	}
	return nil
}
