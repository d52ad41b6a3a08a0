package contract_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/shared"
)

// Tester is the tests' contract: each method exercises one thing that
// crosses. The plugin implements it, and so does the host, for callbacks.
type Tester interface {
	// Fail returns an error of kind (see makeErr).
	Fail(ctx context.Context, kind string) error
	// Probe calls cb.Fail(kind) and reports what the error it got is.
	Probe(ctx context.Context, kind string, cb Tester) (string, error)
	// Echo returns its arguments as they arrived.
	Echo(s string, list []string, m map[string]any, p *Point) (string, error)
	// Kinds returns its arguments of basic kinds as they arrived.
	Kinds(b bool, i8 int8, u uint64, f float32, bs []byte, m Mode) (string, []byte, error)
	// Wait waits for ctx to end and returns its error.
	Wait(ctx context.Context) error
	// Nest calls cb.Nest(depth-1, itself) while depth > 0 and returns
	// the depths it went through, joined.
	Nest(ctx context.Context, depth int, cb Tester) (string, error)
	// Keep keeps cb for Reuse, which calls it after Keep returned.
	Keep(cb Tester) error
	Reuse(ctx context.Context) error
	// Sum reads r to its end (or failAt bytes, then fails) and returns
	// how much it read and its SHA-256.
	Sum(ctx context.Context, failAt int64, r io.Reader) (int64, string, error)
	// Gen writes n bytes of pattern to w (failing after failAt bytes
	// when failAt >= 0) and returns how many Writes accepted.
	Gen(ctx context.Context, n, failAt int64, w io.Writer) (int64, error)
	// Relay calls cb.Gen(n) into a writer that cancels the call's
	// context after cancelAt bytes, and reports what it got.
	Relay(ctx context.Context, n, cancelAt int64, cb Tester) (string, error)
	// Pid returns the plugin's process id.
	Pid() int
	// Tell says text on ui, the library's own contract as a callback.
	Tell(ctx context.Context, ui shared.Ui, text string) error
}

// Mode is a named basic type.
type Mode string

// Point is a struct argument.
type Point struct {
	X, Y int
	Tags []string
}

// ErrNotFound is Tester's own sentinel.
var ErrNotFound = errors.New("not found")

var Testers = contract.New[Tester](func(c *contract.Client) Tester { return testerClient{c} },
	contract.Errors(ErrNotFound))

type testerClient struct{ c *contract.Client }

func (t testerClient) Fail(ctx context.Context, kind string) error {
	return t.c.Call("Fail", ctx, kind)
}
func (t testerClient) Probe(ctx context.Context, kind string, cb Tester) (string, error) {
	return contract.Call1[string](t.c, "Probe", ctx, kind, cb)
}
func (t testerClient) Echo(s string, list []string, m map[string]any, p *Point) (string, error) {
	return contract.Call1[string](t.c, "Echo", s, list, m, p)
}
func (t testerClient) Wait(ctx context.Context) error { return t.c.Call("Wait", ctx) }
func (t testerClient) Kinds(b bool, i8 int8, u uint64, f float32, bs []byte, m Mode) (string, []byte, error) {
	return contract.Call2[string, []byte](t.c, "Kinds", b, i8, u, f, bs, m)
}
func (t testerClient) Nest(ctx context.Context, depth int, cb Tester) (string, error) {
	return contract.Call1[string](t.c, "Nest", ctx, depth, cb)
}
func (t testerClient) Keep(cb Tester) error            { return t.c.Call("Keep", cb) }
func (t testerClient) Reuse(ctx context.Context) error { return t.c.Call("Reuse", ctx) }
func (t testerClient) Sum(ctx context.Context, failAt int64, r io.Reader) (int64, string, error) {
	return contract.Call2[int64, string](t.c, "Sum", ctx, failAt, r)
}
func (t testerClient) Gen(ctx context.Context, n, failAt int64, w io.Writer) (int64, error) {
	return contract.Call1[int64](t.c, "Gen", ctx, n, failAt, w)
}
func (t testerClient) Relay(ctx context.Context, n, cancelAt int64, cb Tester) (string, error) {
	return contract.Call1[string](t.c, "Relay", ctx, n, cancelAt, cb)
}
func (t testerClient) Tell(ctx context.Context, ui shared.Ui, text string) error {
	return t.c.Call("Tell", ctx, ui, text)
}
func (t testerClient) Pid() int {
	pid, _ := contract.Call1[int](t.c, "Pid")
	return pid
}

// makeErr returns an error of kind.
func makeErr(ctx context.Context, kind string) error {
	switch kind {
	case "none":
		return nil
	case "plain":
		return errors.New("plain failure")
	case "empty":
		return errors.New("")
	case "eof-text":
		return errors.New("EOF")
	case "canceled":
		return fmt.Errorf("stopped: %w", context.Canceled)
	case "deadline":
		return fmt.Errorf("too slow: %w", context.DeadlineExceeded)
	case "sentinel":
		return fmt.Errorf("key %q: %w", "k", ErrNotFound)
	case "panic":
		panic("boom")
	case "ctx":
		<-ctx.Done()
		return ctx.Err()
	}
	return fmt.Errorf("no error kind %q", kind)
}

// describeErr says what err is, the same way on both sides.
func describeErr(err error) string {
	if err == nil {
		return "nil"
	}
	var re *contract.RemoteError
	return fmt.Sprintf("%q remote=%v canceled=%v deadline=%v notfound=%v panic=%v",
		err.Error(), errors.As(err, &re), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrNotFound), errors.Is(err, shared.ErrPanic))
}

// pattern is the byte at offset i of what Gen writes.
func pattern(i int64) byte { return byte(i*7 + i>>11) }

// tester implements Tester, on both sides.
type tester struct {
	mu   sync.Mutex
	kept Tester
}

func (*tester) Fail(ctx context.Context, kind string) error { return makeErr(ctx, kind) }

func (*tester) Probe(ctx context.Context, kind string, cb Tester) (string, error) {
	return describeErr(cb.Fail(ctx, kind)), nil
}

func (*tester) Echo(s string, list []string, m map[string]any, p *Point) (string, error) {
	return fmt.Sprintf("%q %#v(nil=%v) %v(nil=%v) %+v", s, list, list == nil, m, m == nil, p), nil
}

func (*tester) Kinds(b bool, i8 int8, u uint64, f float32, bs []byte, m Mode) (string, []byte, error) {
	return fmt.Sprintf("%v %d %d %v %q(nil=%v) %q", b, i8, u, f, bs, bs == nil, m), bs, nil
}

func (*tester) Wait(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (t *tester) Nest(ctx context.Context, depth int, cb Tester) (string, error) {
	if cb == nil {
		return fmt.Sprintf("%d:nil", depth), nil
	}
	if depth == 0 {
		return "0", nil
	}
	rest, err := cb.Nest(ctx, depth-1, t)
	return fmt.Sprintf("%d,%s", depth, rest), err
}

func (t *tester) Keep(cb Tester) error {
	t.mu.Lock()
	t.kept = cb
	t.mu.Unlock()
	return nil
}

func (t *tester) Reuse(ctx context.Context) error {
	t.mu.Lock()
	cb := t.kept
	t.mu.Unlock()
	err := cb.Fail(ctx, "none")
	if errors.Is(err, contract.ErrReleased) {
		return fmt.Errorf("released: %v", err)
	}
	return fmt.Errorf("want ErrReleased, got %v", err)
}

func (*tester) Sum(ctx context.Context, failAt int64, r io.Reader) (int64, string, error) {
	h := sha256.New()
	var src io.Reader = r
	if failAt >= 0 {
		src = io.LimitReader(r, failAt)
	}
	n, err := io.CopyBuffer(h, src, make([]byte, 10000))
	if err != nil {
		return n, "", fmt.Errorf("plugin read: %w", err)
	}
	if failAt >= 0 {
		return n, "", fmt.Errorf("plugin stopped reading after %d bytes", n)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func (*tester) Gen(ctx context.Context, n, failAt int64, w io.Writer) (int64, error) {
	buf := make([]byte, 7919) // a prime, so that writes straddle frames
	var done int64
	for n < 0 || done < n {
		if failAt >= 0 && done >= failAt {
			return done, fmt.Errorf("plugin failed after %d bytes", done)
		}
		k := int64(len(buf))
		if n >= 0 {
			k = min(k, n-done)
		}
		if failAt >= 0 {
			k = min(k, failAt-done)
		}
		for i := range k {
			buf[i] = pattern(done + i)
		}
		m, err := w.Write(buf[:k])
		done += int64(m)
		if err != nil {
			return done, fmt.Errorf("plugin write: %w", err)
		}
	}
	return done, nil
}

// cancelWriter cancels after at bytes.
type cancelWriter struct {
	n, at  int64
	cancel func()
}

func (c *cancelWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.n >= c.at {
		c.cancel()
	}
	return len(p), nil
}

func (*tester) Relay(ctx context.Context, n, cancelAt int64, cb Tester) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &cancelWriter{at: cancelAt, cancel: cancel}
	got, err := cb.Gen(ctx, n, -1, w)
	return fmt.Sprintf("wrote=%d enough=%v %s", got, w.n >= cancelAt, describeErr(err)), nil
}

func (*tester) Pid() int { return os.Getpid() }

func (*tester) Tell(_ context.Context, ui shared.Ui, text string) error {
	ui.Say("%s", text)
	ui.Error("%d%%", 50)
	return nil
}

// testerPlugin serves Tester as tester/one and tester/two.
func testerPlugin() {
	var set plugwire.Set
	set.Register("tester", "one", Testers.Plugin(&tester{}))
	set.Register("tester", "two", Testers.Plugin(&tester{}))
	set.Run()
}

// slowReader yields n bytes of pattern, every chunk after delay.
type patternReader struct {
	n, off int64
	failAt int64 // -1: never
	delay  time.Duration
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.failAt >= 0 && r.off >= r.failAt {
		return 0, errors.New("host reader broke")
	}
	if r.n >= 0 && r.off >= r.n {
		return 0, io.EOF
	}
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	k := int64(len(p))
	if r.n >= 0 {
		k = min(k, r.n-r.off)
	}
	if r.failAt >= 0 {
		k = min(k, r.failAt-r.off)
	}
	for i := range k {
		p[i] = pattern(r.off + i)
	}
	r.off += k
	return int(k), nil
}

func patternSum(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, &patternReader{n: n, failAt: -1})
	return hex.EncodeToString(h.Sum(nil))
}

// checkWriter checks that what it gets is the pattern, and fails after
// failAt bytes when failAt >= 0.
type checkWriter struct {
	n      int64
	failAt int64
	bad    int64 // offset+1 of the first wrong byte
	onData func(n int64)
}

func (w *checkWriter) Write(p []byte) (int, error) {
	if w.failAt >= 0 && w.n+int64(len(p)) > w.failAt {
		k := w.failAt - w.n
		w.check(p[:k])
		return int(k), errors.New("host disk full")
	}
	w.check(p)
	if w.onData != nil {
		w.onData(w.n)
	}
	return len(p), nil
}

func (w *checkWriter) check(p []byte) {
	for i, b := range p {
		if w.bad == 0 && b != pattern(w.n+int64(i)) {
			w.bad = w.n + int64(i) + 1
		}
	}
	w.n += int64(len(p))
}

var _ = strings.Contains
