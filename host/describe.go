package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	Path       string
	Version    string              // "" when the plugin set none
	Protocol   int                 // plugwire's wire protocol version it speaks
	Components map[string][]string // kind -> names, sorted; "" for one dispensed as its kind alone
}

// Describe runs "path describe" and returns what the binary serves. When
// a sidecar file path+"_SHA256SUM" exists, the binary's SHA-256 is checked
// against it first; a mismatch is an error wrapping ErrChecksum. The run
// is bounded: it ends at ctx's deadline or after DefaultDescribeTimeout,
// whichever comes first, and when the binary writes more than 1 MiB on
// stdout or 64 KiB on stderr. The binary, and any process it started in
// its process group, is killed when Describe returns (on Windows, the
// binary only). Errors name the binary and say what it did.
func Describe(ctx context.Context, path string) (*Description, error) {
	d, _, err := describe(ctx, path, DefaultDescribeTimeout, false)
	return d, err
}

// describe checks the binary's sidecar checksum (required or not), then
// runs it with "describe" within timeout, and returns its description and
// the checksum it was checked against ("" when none).
func describe(ctx context.Context, path string, timeout time.Duration, requireSum bool) (*Description, string, error) {
	sum, err := checkSidecar(path, requireSum)
	if err != nil {
		return nil, "", err
	}
	out, err := runDescribe(ctx, path, timeout)
	if err != nil {
		return nil, "", err
	}
	cd, err := component.Parse(out)
	if err != nil {
		return nil, "", fmt.Errorf("host: %s describe: %w", path, err)
	}
	if cd.Version != "" {
		if _, err := version.NewSemver(cd.Version); err != nil {
			return nil, "", fmt.Errorf("host: %s describe: version %s is not a semantic version", path, wire.Quote(cd.Version))
		}
	}
	return &Description{Path: path, Version: cd.Version, Protocol: cd.Protocol, Components: cd.Components}, sum, nil
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

// runDescribeOnce runs "path describe" once, within ctx.
func runDescribeOnce(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, component.DescribeArg)
	cmd.Env = describeEnv()
	stdout := &cappedBuffer{max: maxDescribeStdout, over: cancel}
	stderr := &cappedBuffer{max: maxDescribeStderr, over: cancel}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	// Pipes a leftover process holds open must not keep Wait waiting.
	cmd.WaitDelay = 500 * time.Millisecond
	err := cmd.Run()
	if cmd.Process != nil {
		// Whatever the binary started and left behind goes with it.
		_ = killGroup(cmd.Process)
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// It exited 0 and its output is read, but something it started
		// kept the pipes open: that process is killed above.
		err = nil
	}
	var ee *exec.ExitError
	switch {
	case stdout.overflowed():
		return nil, fmt.Errorf("host: %s describe: wrote more than %d bytes on stdout; not a plugwire plugin?", path, maxDescribeStdout)
	case stderr.overflowed():
		return nil, fmt.Errorf("host: %s describe: wrote more than %d bytes on stderr; not a plugwire plugin?", path, maxDescribeStderr)
	case err == nil && len(bytes.TrimSpace(stdout.Bytes())) == 0:
		return nil, fmt.Errorf("host: %s describe: printed nothing on stdout%s; not a plugwire plugin?", path, stderrTail(stderr.Bytes()))
	case err == nil:
		return stdout.Bytes(), nil
	case context.Cause(ctx) == errDescribeTimeout:
		return nil, fmt.Errorf("host: %s describe: no answer within %v; not a plugwire plugin?", path, timeout)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("host: %s describe: %w", path, ctx.Err())
	case errors.As(err, &ee):
		return nil, fmt.Errorf("host: %s describe: %v%s; not a plugwire plugin set?", path, ee.ProcessState, stderrTail(stderr.Bytes()))
	default:
		return nil, fmt.Errorf("host: %s describe: %w", path, err)
	}
}

// describeEnv is the host's environment without plugwire's variables: a
// binary run for describe is not started as a plugin.
func describeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PLUGWIRE_") || strings.HasPrefix(kv, "PACKER_PLUGIN_") {
			continue
		}
		env = append(env, kv)
	}
	return env
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

// cappedBuffer keeps what is written up to max bytes; past that it calls
// over and fails the write.
type cappedBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	max  int
	over func()
	full bool
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
	return b.buf.Write(p)
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
