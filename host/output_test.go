package host_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
)

// The plugin's stderr is forwarded line by line into the host's Logger
// under the plugin's name: hclog JSON entries keep level, message and
// fields (a multi-line field's tabs expanded); "[LEVEL]" lines get that
// level, without the prefix or the time stamp before it (the standard
// log's, hclog's text format's); other lines Debug. Its stdout after the
// address line goes to the log too (Config.Stdout nil).
func TestPluginLogForwarded(t *testing.T) {
	t.Parallel()
	for _, level := range []hclog.Level{hclog.Trace, hclog.Info} {
		t.Run(level.String(), func(t *testing.T) {
			t.Parallel()
			logger, sink := testLogger(level)
			p := newPlug(t, &host.Config{Logger: logger}, "serve")
			b := preparedBuilder(t, p, map[string]any{"run": "log"})
			if err := b.Run(context.Background(), nil, uiFunc(func(string) {})); err != nil {
				t.Fatal(err)
			}
			// Lines cross on the process's own pipes, not with the call's
			// reply: wait for the last one written.
			sink.waitFor(t, 5*time.Second, "for the plugin's stdout line", msgIs("stdout after the address"))
			sink.waitFor(t, 5*time.Second, "for the plugin's last stderr line", msgIs("the last line"))

			for _, tc := range []struct {
				msg, level string
				min        hclog.Level
				fields     map[string]string
			}{
				{"trace entry", "trace", hclog.Trace, map[string]string{"k": "trace"}},
				{"debug entry", "debug", hclog.Debug, map[string]string{"k": "debug"}},
				{"info entry", "info", hclog.Info, map[string]string{"k": "info", "n": "42"}},
				{"warn entry", "warn", hclog.Warn, map[string]string{"k": "warn", "nested": "map[a:[1 2]]"}},
				{"error entry", "error", hclog.Error, map[string]string{"k": "error", "err": "it broke"}},
				{"a plain warning", "warn", hclog.Warn, nil},
				{"a standard log warning", "warn", hclog.Warn, nil},
				{"acme-vm: an hclog text line", "info", hclog.Info, nil},
				{"an entry with a stack", "error", hclog.Error, map[string]string{"stack": "goroutine 1 [running]:\nmain.f()\n    /src/f.go:12 +0x1d"}},
				{"the last line", "error", hclog.Error, nil},
				{"a plain line", "debug", hclog.Debug, nil},
				{"yamux: Discarding data for stream: 9", "debug", hclog.Debug, nil},
				{"yamux: aborted stream open without inflight syn semaphore", "debug", hclog.Debug, nil},
				{"stdout after the address", "info", hclog.Info, map[string]string{"stream": "stdout"}},
			} {
				got := sink.find(msgIs(tc.msg))
				if tc.min < level {
					if len(got) != 0 {
						t.Errorf("%q logged at %s through a Logger at %s", tc.msg, tc.level, level)
					}
					continue
				}
				if len(got) != 1 {
					t.Errorf("%q logged %d times, want once; log:\n%s", tc.msg, len(got), sink.dump())
					continue
				}
				e := got[0]
				if e.level() != tc.level {
					t.Errorf("%q logged at %q, want %q", tc.msg, e.level(), tc.level)
				}
				if m, want := e.str("@module"), "test."+testExeName; m != want {
					t.Errorf("%q logged under %q, want the plugin's name (%s)", tc.msg, m, want)
				}
				for k, v := range tc.fields {
					if e.str(k) != v {
						t.Errorf("%q: field %s = %q, want %q", tc.msg, k, e.str(k), v)
					}
				}
			}
			// No entry is the raw JSON text of another.
			for _, e := range sink.find(func(e entry) bool { return strings.Contains(e.msg(), "@message") }) {
				t.Errorf("hclog JSON logged as text: %v", e)
			}
		})
	}
}

// countWriter counts the lines written to it and notes when one equal to
// last arrives.
type countWriter struct {
	last string

	mu    sync.Mutex
	buf   []byte
	lines int
	bytes int
	done  chan struct{}
}

func newCountWriter(last string) *countWriter {
	return &countWriter{last: last, done: make(chan struct{})}
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bytes += len(p)
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.lines++
		if strings.Contains(string(w.buf[:i]), w.last) {
			close(w.done)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *countWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// A plugin that writes megabytes on stdout and stderr during Run is never
// blocked by it, and every line is forwarded.
func TestPluginFloodsOutput(t *testing.T) {
	t.Parallel()
	const size = 4 << 20 // per stream
	stdout := newCountWriter("[INFO] flood done")
	logOut := newCountWriter("flood done")
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Output: logOut, Level: hclog.Info})
	p := newPlug(t, &host.Config{Logger: logger, Stdout: stdout}, "serve", envFloodSize+"="+strconv.Itoa(size))
	b := preparedBuilder(t, p, map[string]any{"run": "flood"})
	took := within(t, 30*time.Second, "Run writing 4 MB on stdout and on stderr", func() {
		if err := b.Run(context.Background(), nil, nil); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for name, w := range map[string]*countWriter{"stdout": stdout, "stderr": logOut} {
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the last %s line never arrived (%d lines did)", name, w.count())
		}
	}
	const want = size/(128*64)*64 + 1 // whole chunks of 64 lines, then "flood done"
	if n := stdout.count(); n != want {
		t.Errorf("Config.Stdout got %d lines, want %d", n, want)
	}
	if n := logOut.count(); n < want {
		t.Errorf("the Logger got %d lines, want at least %d", n, want)
	}
	t.Logf("Run of 2 x %d MB took %v", size>>20, took.Round(time.Millisecond))
}
