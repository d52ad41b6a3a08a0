//go:build unix

package plugwire_test

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// A supervised plugin in debug mode stopped as at a breakpoint fails its
// health checks and is not killed: it serves again once continued.
func TestSupervisedReattachedNotKilledWhenStopped(t *testing.T) {
	t.Parallel()
	p := startDebugPlugin(t)
	warned := make(chan struct{})
	var once sync.Once
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "e2e", Level: hclog.Warn, Output: testWriter{t}})
	logger.RegisterSink(hclog.NewSinkAdapter(&hclog.LoggerOptions{Level: hclog.Warn, Output: lineFunc(func(line string) {
		if strings.Contains(line, "not killing it") {
			once.Do(func() { close(warned) })
		}
	})}))
	events := make(chan host.Event, 100)
	s := host.NewSupervisor(&host.Config{Reattach: &p.entry, Plugins: setPlugins(), Logger: logger},
		&host.SupervisorOptions{HealthInterval: 20 * time.Millisecond, HealthFailures: 2, OnEvent: func(e host.Event) { events <- e }})
	t.Cleanup(s.Kill)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-warned:
	case <-time.After(testutil.Slack(30 * time.Second)):
		t.Fatal("no warning about the failing health checks in 30 s")
	}
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Slack(10*time.Second))
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once continued: %v", err)
	}
	for len(events) > 0 {
		if e := <-events; e.Kind != host.EventStarted {
			t.Errorf("event %v for a stopped plugin in debug mode", e)
		}
	}
	if !p.running() {
		t.Fatal("the debug plugin ended")
	}
}

// lineFunc is an io.Writer that hands each write to a function.
type lineFunc func(string)

func (f lineFunc) Write(p []byte) (int, error) {
	f(string(p))
	return len(p), nil
}
