package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/plugwire/plugwire/internal/component"
	"github.com/plugwire/plugwire/internal/wire"
)

// DefaultDescribeTimeout bounds how long Describe lets a binary take to
// describe itself when the context has no earlier deadline. A plugwire set
// answers in milliseconds.
const DefaultDescribeTimeout = 10 * time.Second

// Bounds on what Describe reads from a binary: a description of hundreds of
// components fits in a few KiB.
const (
	maxDescribeStdout = 1 << 20
	maxDescribeStderr = 64 << 10
)

// Description is what a plugin binary reports when run as
// "BINARY describe": see plugwire.Set.
type Description struct {
	Path       string              // the binary Describe ran
	Version    string              // "" when the plugin set none
	Protocol   int                 // plugwire's wire protocol version it speaks
	Components map[string][]string // kind -> names, sorted; "" for one dispensed as its kind alone
}

// Describe runs "path describe" and returns what the binary serves. When
// a sidecar file path+"_SHA256SUM" exists, the binary's SHA-256 is checked
// against it first; a mismatch is an error wrapping ErrChecksum. The run
// is bounded: it ends at ctx's deadline or after DefaultDescribeTimeout,
// whichever comes first, and when the binary writes more than 1 MiB on
// stdout or 64 KiB on stderr. It runs without plugwire's environment
// variables, with no standard input, in a process group of its own (a job
// object on Windows) that is killed as soon as the binary exits or its run
// ends, so that nothing it started is left behind. As soon as its stdout
// cannot be the start of a JSON description (prose, or JSON followed by
// more) the binary is killed rather than waited for. Errors name the
// binary and say what it did; for errors.Is they wrap:
//   - ErrNotPlugin: the binary ran but did not describe itself as a
//     plugwire plugin does: nothing or something else on stdout, too much
//     output, a malformed description, no answer in time, or an exit
//     with an error status or a signal;
//   - ErrProcessExited as well, for that exit (the text gives the status
//     and the last line of stderr);
//   - ErrChecksum: the sidecar checksum does not match, or the sidecar
//     holds no SHA-256;
//   - ctx's error when ctx ended first;
//   - the error of starting it otherwise (fs.ErrNotExist,
//     fs.ErrPermission, ...).
//
// A description of another wire protocol version is not an error here:
// compare Description.Protocol (Discover skips it with ErrVersionMismatch).
func Describe(ctx context.Context, path string) (*Description, error) {
	d, _, err := describe(ctx, path, DefaultDescribeTimeout, false)
	return d, err
}

// describe checks the binary's sidecar checksum (required or not), then
// runs it with "describe" within timeout, and returns its description and
// the checksum (nil when there was none).
func describe(ctx context.Context, path string, timeout time.Duration, requireSum bool) (*Description, *sidecarSum, error) {
	sum, err := checkSidecar(ctx, path, requireSum)
	if err != nil {
		return nil, nil, err
	}
	out, err := runDescribe(ctx, path, timeout)
	if err != nil {
		return nil, nil, err
	}
	d, err := parseDescription(path, out)
	if err != nil {
		return nil, nil, err
	}
	var ss *sidecarSum
	if sum != "" {
		ss = &sidecarSum{hex: sum}
	}
	return d, ss, nil
}

// parseDescription is the description out, the stdout of the binary at
// path run with "describe", says.
func parseDescription(path string, out []byte) (*Description, error) {
	cd, err := component.Parse(out)
	if err != nil {
		return nil, notPlugin(path, err.Error())
	}
	if cd.Version != "" {
		if _, err := version.NewSemver(cd.Version); err != nil {
			return nil, notPlugin(path, "version "+wire.Quote(cd.Version)+" is not a semantic version")
		}
	}
	return &Description{Path: path, Version: cd.Version, Protocol: cd.Protocol, Components: cd.Components}, nil
}

// describeError is a failed describe: its text, and the sentinels it
// wraps without spelling them out.
type describeError struct {
	msg  string
	errs []error
}

func (e *describeError) Error() string   { return e.msg }
func (e *describeError) Unwrap() []error { return e.errs }

// notPlugin is the error of a binary at path that did not describe itself
// as a plugwire plugin does, saying what it did instead.
func notPlugin(path, what string, also ...error) error {
	return &describeError{msg: "host: " + path + " describe: " + what, errs: append([]error{ErrNotPlugin}, also...)}
}

// errDescribeTimeout is the cause of a describe that ran out of its time.
var errDescribeTimeout = errors.New("describe timed out")

// runDescribe runs "path describe" and returns its stdout. A binary just
// written may fail to start with ETXTBSY while a process forked meanwhile
// by this program still holds it open for writing until its exec
// (go.dev/issue/22315): that is tried again, as the go command does.
func runDescribe(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errDescribeTimeout)
	defer cancel()
	for try := 0; ; try++ {
		out, err := runDescribeOnce(ctx, path, timeout)
		if !errors.Is(err, syscall.ETXTBSY) || try == 3 {
			return out, err
		}
		t := time.NewTimer(10 * time.Millisecond << try)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return out, err
		}
	}
}

// drainAfterExit bounds how long Describe reads what is left in the
// binary's pipes once it has exited and its process group is killed: only
// a process that left the group can keep them open that long.
const drainAfterExit = time.Second

// runDescribeOnce runs "path describe" once, within ctx. It reads the
// binary's pipes itself, so that nothing the binary wrote before it exited
// is lost however late this goroutine runs: once the binary has exited
// its process group is killed, which ends what it left behind and so
// closes the pipes.
func runDescribeOnce(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	stdout := &cappedBuffer{max: maxDescribeStdout}
	stderr := &cappedBuffer{max: maxDescribeStderr}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("host: %s describe: %w", path, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("host: %s describe: %w", path, err)
	}
	cmd := exec.Command(execPath(path), component.DescribeArg)
	cmd.Env = describeEnv()
	cmd.Stdout, cmd.Stderr = outW, errW
	prepareTree(cmd, false)
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("host: %s describe: %w", path, err)
	}
	tree := newTree(cmd)
	defer tree.release()
	over := make(chan struct{}, 3) // an output went past its bound, or stdout is junk
	stdout.over = func() { over <- struct{}{} }
	stderr.over = stdout.over
	stdout.check = notDescription
	var readers sync.WaitGroup
	for _, rb := range []struct {
		r *os.File
		b *cappedBuffer
	}{{outR, stdout}, {errR, stderr}} {
		readers.Go(func() { _, _ = io.Copy(rb.b, rb.r) })
	}
	exited := make(chan error, 1)
	go func() {
		tree.awaitExit()
		// Whatever the binary started and left behind goes with it.
		tree.endGroup()
		exited <- tree.wait()
	}()

	select {
	case err = <-exited:
	case <-ctx.Done():
		tree.kill()
		err = <-exited
	case <-over:
		tree.kill()
		err = <-exited
	}
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	t := time.NewTimer(drainAfterExit)
	select {
	case <-drained:
	case <-t.C:
	}
	t.Stop()
	outR.Close()
	errR.Close()
	<-drained

	var ee *exec.ExitError
	switch {
	case stdout.overflowed():
		return nil, notPlugin(path, fmt.Sprintf("wrote more than %d bytes on stdout; not a plugwire plugin?", maxDescribeStdout))
	case stderr.overflowed():
		return nil, notPlugin(path, fmt.Sprintf("wrote more than %d bytes on stderr; not a plugwire plugin?", maxDescribeStderr))
	case stdout.junk != nil:
		// Killed for it: the description's parser says what is wrong
		// and quotes the output.
		return nil, notPlugin(path, stdout.junk.Error())
	case err == nil && len(bytes.TrimSpace(stdout.Bytes())) == 0:
		return nil, notPlugin(path, "printed nothing on stdout"+stderrTail(stderr.Bytes())+"; not a plugwire plugin?")
	case err == nil:
		return stdout.Bytes(), nil
	case context.Cause(ctx) == errDescribeTimeout:
		return nil, notPlugin(path, fmt.Sprintf("no answer within %v%s%s; not a plugwire plugin?", timeout, stdoutSoFar(stdout.Bytes()), stderrTail(stderr.Bytes())), errDescribeTimeout)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("host: %s describe: %w", path, ctx.Err())
	case errors.As(err, &ee):
		return nil, notPlugin(path, fmt.Sprintf("%v%s; not a plugwire plugin set?", ee.ProcessState, stderrTail(stderr.Bytes())), ErrProcessExited)
	default:
		return nil, fmt.Errorf("host: %s describe: %w", path, err)
	}
}

// describeEnv is the host's environment without plugwire's variables: a
// binary run for describe is not started as a plugin.
func describeEnv() []string {
	return pluginEnv(nil)
}

// stderrTail is "; stderr: LINE" with the last non-empty line of b, quoted
// and cut short, or "".
func stderrTail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return ""
	}
	const max = 240
	if len(last) > max {
		last = strings.ToValidUTF8(last[:max], "") + "..."
	}
	return "; stderr: " + strconv.Quote(last)
}

// stdoutSoFar is "; stdout: TEXT" with the start of what b holds, quoted,
// or "".
func stdoutSoFar(b []byte) string {
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	return "; stdout: " + wire.Quote(string(b))
}

// notDescription returns why out, the stdout of describe so far, can no
// longer become a description, or nil while it can: it is white space,
// or the start of one JSON object. A JSON value followed by more than
// white space, or anything that is not JSON, is decided on at once.
func notDescription(out []byte) error {
	trimmed := bytes.TrimLeft(out, " \t\r\n")
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] != '{' {
		_, err := component.Parse(out)
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var v json.RawMessage
	err := dec.Decode(&v)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil // not finished yet
	}
	if err != nil || len(bytes.TrimSpace(out[dec.InputOffset():])) > 0 {
		_, err := component.Parse(out)
		return err
	}
	return nil
}

// cappedBuffer keeps what is written up to max bytes; past that it calls
// over and fails the write. When check is set it is given what the buffer
// holds after each write; its first error is kept in junk and reported
// through over too.
type cappedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	max   int
	over  func()
	full  bool
	check func([]byte) error
	junk  error
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.full || b.buf.Len()+len(p) > b.max {
		if !b.full {
			b.full = true
			b.over()
		}
		return 0, errors.New("output limit reached")
	}
	n, err := b.buf.Write(p)
	if b.check != nil && b.junk == nil {
		if b.junk = b.check(b.buf.Bytes()); b.junk != nil {
			b.over()
		}
	}
	return n, err
}

func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Bytes()
}

func (b *cappedBuffer) overflowed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.full
}
