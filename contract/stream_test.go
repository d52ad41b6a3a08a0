package contract_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/host"
)

// Streams of every size around a frame arrive whole, both ways: exactly
// the bytes sent, io.EOF where the sender's came.
func TestStreamSizes(t *testing.T) {
	tt, _ := startTester(t, "one")
	ctx := context.Background()
	for _, n := range []int64{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 16 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got, sum, err := tt.Sum(ctx, -1, &patternReader{n: n, failAt: -1})
			if err != nil || got != n || sum != patternSum(n) {
				t.Errorf("upload: Sum = %d, %s, %v; want %d, %s", got, sum, err, n, patternSum(n))
			}
			w := &checkWriter{failAt: -1}
			wrote, err := tt.Gen(ctx, n, -1, w)
			if err != nil || wrote != n || w.n != n || w.bad != 0 {
				t.Errorf("download: Gen = %d, %v; the writer got %d bytes, first wrong at %d", wrote, err, w.n, w.bad-1)
			}
		})
	}
	// A nil reader or writer arrives as nil; the plugin's use of it panics,
	// and the plugin lives on.
	if _, _, err := tt.Sum(ctx, -1, nil); !errors.Is(err, errPanic) {
		t.Errorf("Sum(nil) = %v, want a panic", err)
	}
}

// A failing reader or writer on either side is the method's error; what
// the plugin wrote before it failed has all arrived.
func TestStreamFailures(t *testing.T) {
	tt, _ := startTester(t, "one")
	ctx := context.Background()
	const at = 100_000
	_, _, err := tt.Sum(ctx, -1, &patternReader{n: -1, failAt: at})
	if !isRemote(err) || !strings.Contains(err.Error(), "plugin read: host reader broke") {
		t.Errorf("host's reader fails: %v", err)
	}
	w := &checkWriter{failAt: at}
	_, err = tt.Gen(ctx, -1, -1, w)
	if !isRemote(err) || !strings.Contains(err.Error(), "plugin write: host disk full") || w.n != at {
		t.Errorf("host's writer fails: %v, after %d bytes", err, w.n)
	}
	n, _, err := tt.Sum(ctx, at, &patternReader{n: -1, failAt: -1})
	if !isRemote(err) || n != at || !strings.Contains(err.Error(), "plugin stopped reading after 100000 bytes") {
		t.Errorf("plugin stops reading: %d, %v", n, err)
	}
	w = &checkWriter{failAt: -1}
	n, err = tt.Gen(ctx, -1, at, w)
	if !isRemote(err) || n != at || w.n != at || w.bad != 0 {
		t.Errorf("plugin fails writing: %d, %v; the writer got %d bytes", n, err, w.n)
	}
	// Everything still works.
	if got, sum, err := tt.Sum(ctx, -1, &patternReader{n: at, failAt: -1}); err != nil || got != at || sum != patternSum(at) {
		t.Errorf("after the failures: %d, %v", got, err)
	}
}

// Cancelling mid-stream stops the copy on both sides: from the host
// (upload and download) and from the plugin (its call to the host's
// callback).
func TestStreamCancel(t *testing.T) {
	tt, _ := startTester(t, "one")
	ctx, cancel := context.WithCancel(context.Background())
	w := &checkWriter{failAt: -1, onData: func(n int64) {
		if n >= 1<<20 {
			cancel()
		}
	}}
	_, err := tt.Gen(ctx, -1, -1, w)
	if !errors.Is(err, context.Canceled) || w.bad != 0 {
		t.Errorf("download cancelled by the host: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	r := &cancelReader{r: &patternReader{n: -1, failAt: -1}, at: 1 << 20, cancel: cancel}
	_, _, err = tt.Sum(ctx, -1, r)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("upload cancelled by the host: %v", err)
	}
	got, err := tt.Relay(context.Background(), -1, 1<<20, &tester{})
	want := `enough=true "plugin write: context canceled" remote=true canceled=true`
	if err != nil || !strings.Contains(got, want) {
		t.Errorf("download from the host cancelled by the plugin: %s (%v), want %s", got, err, want)
	}
}

// cancelReader cancels after at bytes.
type cancelReader struct {
	r      *patternReader
	at     int64
	cancel func()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.r.off >= c.at {
		c.cancel()
	}
	return n, err
}

// A plugin killed mid-stream: the call fails with ErrProcessExited, the
// host's copy ends, and nothing is left running (TestMain checks for
// goroutines).
func TestKillMidStream(t *testing.T) {
	for _, dir := range []string{"upload", "download"} {
		t.Run(dir, func(t *testing.T) {
			tt, c := startTester(t, "one")
			p, err := os.FindProcess(tt.Pid())
			if err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			kill := func(n int64) {
				if n >= 1<<20 {
					once.Do(func() { _ = p.Kill() })
				}
			}
			if dir == "upload" {
				r := &patternReader{n: -1, failAt: -1}
				_, _, err = tt.Sum(context.Background(), -1, readerFunc(func(b []byte) (int, error) {
					kill(r.off)
					return r.Read(b)
				}))
			} else {
				_, err = tt.Gen(context.Background(), -1, -1, &checkWriter{failAt: -1, onData: kill})
			}
			if !errors.Is(err, host.ErrProcessExited) || isRemote(err) {
				t.Errorf("%s: %v, want ErrProcessExited", dir, err)
			}
			if !c.Exited() {
				t.Errorf("the client does not know the plugin exited")
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func isRemote(err error) bool {
	var re *contract.RemoteError
	return errors.As(err, &re)
}
