package host_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// A Config copied, or given to NewClient again, makes an independent
// client: its own process, which lives on when the other client is
// killed; the caller's Config and Cmd are left as they were.
func TestCopiedConfig(t *testing.T) {
	t.Parallel()
	cfg := host.Config{Cmd: helperCmd("serve"), KillGrace: time.Second, StartTimeout: 30 * time.Second}
	var sinks [3]*logSink
	var ps [3]*plug
	for i := range ps {
		cp := cfg // the second and third share the first's Cmd
		cp.Logger, sinks[i] = testLogger(hclog.Trace)
		ps[i] = &plug{Client: host.NewClient(&cp), log: sinks[i]}
		t.Cleanup(ps[i].Kill)
	}
	pids := map[int]bool{}
	for i, p := range ps {
		if err := p.Start(context.Background()); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		pids[p.pid(t)] = true
	}
	if len(pids) != len(ps) {
		t.Fatalf("%d clients of one Config started %d processes, want one each", len(ps), len(pids))
	}
	if cfg.Cmd.Process != nil || cfg.Logger != nil {
		t.Errorf("NewClient changed the caller's Config: Cmd.Process %v, Logger %v", cfg.Cmd.Process, cfg.Logger)
	}
	ps[0].Kill()
	for i, p := range ps[1:] {
		b := preparedBuilder(t, p, map[string]any{})
		if err := b.Prepare(map[string]any{}); err != nil || p.Exited() {
			t.Errorf("client %d after another client of the same Config was killed: Prepare %v, Exited %v", i+1, err, p.Exited())
		}
	}
}

// A negative StartTimeout means none: a plugin starts and serves; the
// plugin is given no PLUGWIRE_CONNECT_TIMEOUT, so it waits for its host
// as long as it waits by default (a positive StartTimeout is passed on);
// and a plugin that never prints its address is bounded by Start's
// context alone: still starting after a second, twice the StartTimeout
// TestStartTimeout sees expire, and ended by the context, never by
// ErrStartTimeout.
func TestNegativeStartTimeout(t *testing.T) {
	t.Parallel()
	t.Run("serves", func(t *testing.T) {
		t.Parallel()
		p := newPlug(t, &host.Config{StartTimeout: -1}, "serve")
		preparedBuilder(t, p, map[string]any{})
	})
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		env     string // the plugin's PLUGWIRE_CONNECT_TIMEOUT
	}{
		{"negative: only ctx bounds it", -1, "unset"},
		{"positive: passed on", 30 * time.Second, "30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPlug(t, &host.Config{StartTimeout: tc.timeout}, "silent")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- p.Start(ctx) }()
			pid := p.startedPid(t)
			e := p.log.waitFor(t, 10*time.Second, "with the helper's environment", msgIs(helperPidMsg))
			if got := e["connect_timeout"]; got != tc.env {
				t.Errorf("StartTimeout %v: the plugin's PLUGWIRE_CONNECT_TIMEOUT is %v, want %s", tc.timeout, got, tc.env)
			}
			wait := testutil.Slack(time.Second)
			select {
			case err := <-errc:
				t.Fatalf("StartTimeout %v: Start of a silent plugin ended within %v, before its ctx: %v", tc.timeout, wait, err)
			case <-time.After(wait):
			}
			cancel()
			var err error
			within(t, 5*time.Second, "Start after its ctx was cancelled", func() { err = <-errc })
			if !errors.Is(err, context.Canceled) || errors.Is(err, host.ErrStartTimeout) {
				t.Errorf("Start: %v, want an error wrapping context.Canceled and not ErrStartTimeout", err)
			}
			assertReaped(t, pid)
		})
	}
}
