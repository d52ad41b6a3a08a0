package host_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// entry is one hclog JSON log entry.
type entry map[string]any

func (e entry) msg() string   { s, _ := e["@message"].(string); return s }
func (e entry) level() string { s, _ := e["@level"].(string); return s }
func (e entry) str(k string) string {
	switch v := e[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// logSink is the Output of a test's hclog JSON Logger: it keeps every
// entry and lets a test wait for one.
type logSink struct {
	mu      sync.Mutex
	entries []entry
	raw     []string // lines that were not JSON
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		var e entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			s.raw = append(s.raw, line)
			continue
		}
		s.entries = append(s.entries, e)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// find returns the entries for which match holds.
func (s *logSink) find(match func(entry) bool) []entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []entry
	for _, e := range s.entries {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// waitFor waits up to d (scaled by testutil.Slack) for an entry for which
// match holds.
func (s *logSink) waitFor(t testing.TB, d time.Duration, what string, match func(entry) bool) entry {
	t.Helper()
	d = testutil.Slack(d)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		for _, e := range s.entries {
			if match(e) {
				s.mu.Unlock()
				return e
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("no log entry %s within %v; log:\n%s", what, d, s.dump())
			return nil
		}
	}
}

func (s *logSink) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, e := range s.entries {
		j, _ := json.Marshal(e)
		if len(j) > 600 {
			j = append(j[:600], "..."...)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	for _, l := range s.raw {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func msgIs(m string) func(entry) bool { return func(e entry) bool { return e.msg() == m } }

// testLogger is an hclog JSON Logger at level writing into a new sink.
func testLogger(level hclog.Level) (hclog.Logger, *logSink) {
	sink := newLogSink()
	return hclog.New(&hclog.LoggerOptions{
		Name:       "test",
		Output:     sink,
		JSONFormat: true,
		Level:      level,
	}), sink
}

// plug is a Client under test with its log.
type plug struct {
	*host.Client
	log *logSink
}

// newPlug makes a Client for the helper behaviour, logging at Trace into a
// sink, with short timeouts, killed when the test ends. cfg may be nil or
// preset some fields.
func newPlug(t *testing.T, cfg *host.Config, behaviour string, env ...string) *plug {
	t.Helper()
	if cfg == nil {
		cfg = &host.Config{}
	}
	cfg.Cmd = helperCmd(behaviour, env...)
	var sink *logSink
	if cfg.Logger == nil {
		cfg.Logger, sink = testLogger(hclog.Trace)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = time.Second
	}
	p := &plug{Client: host.NewClient(cfg), log: sink}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() && sink != nil {
			t.Logf("client log:\n%s", sink.dump())
		}
	})
	return p
}

// pid waits for the helper's own log entry and returns its pid.
func (p *plug) pid(t *testing.T) int {
	t.Helper()
	e := p.log.waitFor(t, 10*time.Second, "with the helper's pid", msgIs(helperPidMsg))
	n, ok := e["pid"].(float64)
	if !ok || n <= 0 {
		t.Fatalf("helper's pid entry has no pid: %v", e)
	}
	return int(n)
}

// startedPid returns the pid of the process the host started, from the
// host's own "plugin started" entry: a helper killed early (a short
// StartTimeout on a loaded machine) may not have logged its pid yet.
func (p *plug) startedPid(t *testing.T) int {
	t.Helper()
	e := p.log.waitFor(t, 10*time.Second, "of the start", msgIs("plugin started"))
	n, ok := e["pid"].(float64)
	if !ok || n <= 0 {
		t.Fatalf("the start's entry has no pid: %v", e)
	}
	return int(n)
}

// assertReaped checks that pid is no process at all: not running, and not
// a zombie left for someone to reap.
func assertReaped(t *testing.T, pid int) {
	t.Helper()
	if processExists(pid) {
		t.Errorf("process %d still exists after Kill (state %q)", pid, procState(pid))
	}
}

// killPid kills pid without asking (SIGKILL; TerminateProcess on Windows).
func killPid(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Kill()
}

// within runs f and fails the test if it took longer than limit (scaled by
// testutil.Slack); if f still runs 10 s after that, the test ends there
// rather than hanging.
func within(t *testing.T, limit time.Duration, what string, f func()) time.Duration {
	t.Helper()
	limit = testutil.Slack(limit)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit + 10*time.Second):
		t.Fatalf("%s still running after %v (want at most %v)", what, time.Since(start).Round(time.Millisecond), limit)
	}
	took := time.Since(start)
	if took > limit {
		t.Errorf("%s took %v, want at most %v", what, took.Round(time.Millisecond), limit)
	}
	return took
}

// wantExited checks that err says the process exited, with status (e.g.
// "exit status 3") and each of tail in its text.
func wantExited(t *testing.T, what string, err error, status string, tail ...string) {
	t.Helper()
	if !errors.Is(err, host.ErrProcessExited) {
		t.Errorf("%s: error %v, want one wrapping host.ErrProcessExited", what, err)
		return
	}
	text := err.Error()
	for _, want := range append([]string{status}, tail...) {
		if !strings.Contains(text, want) {
			t.Errorf("%s: error %q does not contain %q", what, text, want)
		}
	}
}

// await waits up to d (scaled by testutil.Slack) for ch to be closed (or
// to deliver).
func await(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	d = testutil.Slack(d)
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s did not happen within %v", what, d)
	}
}

// awaitAll waits up to d (scaled, as await does) for wg, or fails the test naming what it waited for.
func awaitAll(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	await(t, done, d, what)
}

// lines reads r line by line into ch until EOF.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// preparedBuilder dispenses c's builder and Prepares it with config,
// failing the test if either fails.
func preparedBuilder(t *testing.T, c interface {
	Builder() (shared.Builder, error)
}, config any) shared.Builder {
	t.Helper()
	b, err := c.Builder()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Prepare(config); err != nil {
		t.Fatal(err)
	}
	return b
}
