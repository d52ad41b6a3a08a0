package host_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
)

// A plugin that dies before it is connected is reported at once, as
// ErrProcessExited with its exit status and last stderr lines, not after
// StartTimeout. "At once" is timed from the host's "plugin exited": the
// process's own start can take seconds on a loaded machine.
func TestStartProcessExits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		behaviour string
		tail      []string
	}{
		{"exit-before-address", []string{"the widget is missing", "giving up before the address line"}},
		{"address-then-exit", []string{"leaving before the host connects"}},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			t.Parallel()
			p := newPlug(t, &host.Config{StartTimeout: 30 * time.Second}, tc.behaviour)
			errc := make(chan error, 1)
			go func() {
				_, err := p.Builder()
				errc <- err
			}()
			p.log.waitFor(t, 20*time.Second, `"plugin exited"`, msgIs("plugin exited"))
			var err error
			select {
			case err = <-errc:
			case <-time.After(testutil.Slack(2 * time.Second)):
				t.Fatalf("Builder() still running %v after the plugin exited", testutil.Slack(2*time.Second))
			}
			wantExited(t, "Builder()", err, "exit status 3", tc.tail...)
			if !p.Exited() {
				t.Error("Exited() is false after the plugin exited")
			}
			// Every later call fails the same way, at once.
			within(t, 2*time.Second, "a second Command()", func() {
				_, err = p.Command()
			})
			wantExited(t, "second Command()", err, "exit status 3", tc.tail...)
		})
	}
}

// A plugin that prints nothing: ErrStartTimeout after StartTimeout, and the
// process is killed and reaped.
func TestStartTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	p := newPlug(t, &host.Config{StartTimeout: timeout}, "silent")
	var err error
	// The issue gives no bound beyond StartTimeout itself: allow for the
	// kill and reaping of a race-instrumented helper on a loaded machine,
	// which was seen to take over 3 s.
	took := within(t, timeout+5*time.Second, "Builder() of a silent plugin", func() {
		_, err = p.Builder()
	})
	if took < timeout {
		t.Errorf("Builder() gave up after %v, before StartTimeout %v", took, timeout)
	}
	if !errors.Is(err, host.ErrStartTimeout) {
		t.Fatalf("Builder() error %v, want one wrapping host.ErrStartTimeout", err)
	}
	if errors.Is(err, host.ErrProcessExited) {
		t.Errorf("Builder() error %v also wraps ErrProcessExited", err)
	}
	if !p.Exited() {
		t.Error("Exited() is false: the silent plugin was not killed and reaped")
	}
	assertReaped(t, p.startedPid(t))
	if _, err := p.Builder(); !errors.Is(err, host.ErrStartTimeout) {
		t.Errorf("second Builder() error %v, want the same ErrStartTimeout", err)
	}
}

// A first stdout line that is not a loopback host:port is an error quoting
// what was read, cut to a sane length, and the process is killed.
func TestStartBadAddressLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10000)
	for _, tc := range []struct {
		name, line string
		quoted     string // what the error must quote
	}{
		{"garbage", "hello, I am a plugin\n", `"hello, I am a plugin"`},
		{"empty", "\n", `""`},
		{"overlong", long + "\n", `"xxxxxxxxxxxxxxxxxxxx`},
		{"overlong without newline", long, `"xxxxxxxxxxxxxxxxxxxx`},
		{"non-loopback", "10.1.2.3:1234\n", `"10.1.2.3:1234"`},
		{"any address", "0.0.0.0:1234\n", `"0.0.0.0:1234"`},
		{"host name", "example.com:1234\n", `"example.com:1234"`},
		{"localhost", "localhost:1234\n", `"localhost:1234"`},
		{"no port", "127.0.0.1\n", `"127.0.0.1"`},
		{"port 0", "127.0.0.1:0\n", `"127.0.0.1:0"`},
		{"port 70000", "127.0.0.1:70000\n", `"127.0.0.1:70000"`},
		{"go-plugin handshake", "1|1|tcp|127.0.0.1:1234|netrpc\n", `"1|1|tcp|127.0.0.1:1234|netrpc"`},
		{"binary", "\x00\x01\xff\n", `"\x00\x01\xff"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPlug(t, &host.Config{StartTimeout: 30 * time.Second}, "line", envLine+"="+strconv.Quote(tc.line))
			errc := make(chan error, 1)
			go func() {
				_, err := p.Builder()
				errc <- err
			}()
			// The helper logs its pid just before it prints the line: from
			// then on the start must fail at once, however slowly the
			// process started (a loaded machine, Wine).
			p.pid(t)
			var err error
			select {
			case err = <-errc:
			case <-time.After(testutil.Slack(2 * time.Second)):
				t.Fatal("Builder() still running 2 s after the plugin printed its line")
			}
			if err == nil {
				t.Fatal("Builder() succeeded")
			}
			text := err.Error()
			if !strings.Contains(text, tc.quoted) {
				t.Errorf("error %q does not quote the line as %s", text, tc.quoted)
			}
			if len(text) > 300 {
				t.Errorf("error is %d bytes long, want the line cut to a sane length: %q", len(text), text)
			}
			if errors.Is(err, host.ErrStartTimeout) {
				t.Errorf("error %v wraps ErrStartTimeout", err)
			}
			if !errors.Is(err, host.ErrNotPlugin) {
				t.Errorf("error %v does not wrap ErrNotPlugin", err)
			}
			if !p.Exited() {
				t.Error("the plugin was not killed")
			}
			assertReaped(t, p.pid(t))
		})
	}
}

// Kill while the plugin is starting ends the start at once.
func TestKillWhileStarting(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "silent")
	errc := make(chan error, 1)
	go func() {
		_, err := p.Builder()
		errc <- err
	}()
	pid := p.pid(t)
	within(t, 2*time.Second, "Kill() while starting", p.Kill)
	select {
	case err := <-errc:
		wantExited(t, "Builder() ended by Kill", err, killedStatus)
	case <-time.After(testutil.Slack(2 * time.Second)):
		t.Fatal("Builder() still running 2 s after Kill")
	}
	assertReaped(t, pid)
}
