package host

import (
	"errors"
	"fmt"
	"strings"

	"github.com/plugwire/plugwire/internal/wire"
)

// The errors below are wrapped by the errors a Client returns, so that a
// host tells them apart with errors.Is. Each says when it happens; the
// error's text says with which plugin and value.
var (
	// ErrStartTimeout: the plugin printed no address line, or did not
	// complete the connection and handshake, within Config.StartTimeout
	// (the answer to the host's handshake is due within 10 s of connecting
	// in any case). The process has been killed and reaped. A start ended
	// by Start's context wraps that context's error instead.
	ErrStartTimeout = errors.New("plugin did not start in time")

	// ErrProcessExited: the plugin process ended, on its own or by Kill,
	// before announcing its address, during the handshake, while calls
	// were in flight, or before a later call. The text says how it ended
	// (exit status or signal, or killed by the host) and carries the last
	// lines the plugin wrote to stderr.
	ErrProcessExited = errors.New("plugin process exited")

	// ErrNotPlugin: the program's first stdout line is not an address:
	// the binary is not a plugwire plugin (or prints something before
	// Serve). The text quotes the line, cut to a sane length.
	ErrNotPlugin = errors.New("not a plugwire plugin")

	// ErrNoFreePort: every port of Config.MinPort..MaxPort was taken each
	// time the plugin tried, until StartTimeout. A plugin that finds its
	// range full says so on stdout with a fixed token (not free text), and
	// the host starts it again after a short randomised back-off; a port
	// is held only from the plugin's announcement to the host's
	// connection, so a full range is usually a passing state. A plugin
	// whose Config.Stdin is a reader other than an *os.File is not started
	// again: its first process may have taken some of the input.
	ErrNoFreePort = wire.ErrNoFreePort

	// ErrHandshake: whatever answered on the plugin's port did not
	// complete plugwire's handshake: it did not prove the launch secret
	// (not the process this host started), answered something that is not
	// plugwire's preamble, or closed the connection during it while the
	// plugin process lived.
	ErrHandshake = wire.ErrHandshake

	// ErrVersionMismatch: the plugin speaks another version of plugwire's
	// wire protocol. The text names both versions; build the host and the
	// plugin against the same plugwire release.
	ErrVersionMismatch = wire.ErrVersionMismatch

	// ErrConnect: the host could not connect to the address the plugin
	// announced, or to a reattach entry's address, while the plugin's
	// process lived (a started plugin that had ended fails with
	// ErrProcessExited instead): nothing listened there ("connection
	// refused": the plugin closed its listener, or announced a port it
	// does not hold), or the address cannot be reached from this machine
	// ("network is unreachable": ::1 where IPv6 is off). The text names
	// the address, and the dial's error is wrapped too.
	ErrConnect = errors.New("cannot connect to the plugin")

	// ErrBadConstraint: a version constraint given to
	// Catalog.LookupVersion is not one hashicorp/go-version reads. The text
	// quotes it.
	ErrBadConstraint = errors.New("malformed version constraint")

	// ErrWrongType: Dispense[T] or DispenseSupervised[T] found the
	// component, but it is not a T. The text names both types and, when
	// the host's own Config.Plugins entry made the value, that entry. The
	// plugin is not harmed: dispensing the right T then works.
	ErrWrongType = errors.New("wrong type")
)

// exitError describes how a plugin process ended.
func exitError(name string, pid int, status string, tail []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (pid %d): %s", name, pid, status)
	if len(tail) > 0 {
		b.WriteString("; last stderr: ")
		for i, l := range tail {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(l)
		}
	}
	return fmt.Errorf("host: %w: %s", ErrProcessExited, b.String())
}
