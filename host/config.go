package host

import (
	"io"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/wire"
)

// Defaults for the zero fields of Config. A plugin whose host passed none
// assumes the same (DefaultStartTimeout as how long it waits for its host
// to connect).
const (
	DefaultMinPort      = wire.DefaultMinPort
	DefaultMaxPort      = wire.DefaultMaxPort
	DefaultStartTimeout = wire.DefaultConnectTimeout
	DefaultKillGrace    = wire.DefaultKillGrace
)

// Config says how to start one plugin binary and what it serves. Write
// Config literals with field names. The zero value of each field is
// usable and documented below. NewClient keeps its own copy of the Config
// and the host starts a copy of Cmd, so one Config (or a copy of it) may
// make any number of independent Clients.
type Config struct {
	// Cmd is the plugin binary to start; required. Its Stdin, Stdout and
	// Stderr must be nil: the host sets them (see Stdin, Stdout and
	// Logger). The host starts a copy of Cmd and never changes Cmd
	// itself. The plugin's environment is Cmd.Env, or when it is nil the
	// host's environment without any PLUGWIRE_ or PACKER_PLUGIN_
	// variable; either way without PLUGWIRE_REATTACH and PLUGWIRE_DEBUG,
	// and with the plugwire variables the host sets for this start. The
	// host adds one inherited descriptor after its ExtraFiles (a handle
	// on Windows): the plugin's lifeline, a pipe whose end tells the
	// plugin that its host is gone.
	Cmd *exec.Cmd

	// Stdin is the plugin's standard input, as exec.Cmd's Stdin: nil means
	// none (the null device); an *os.File, such as the host's os.Stdin, is
	// passed as it is; any other reader is copied to the plugin through a
	// pipe until it ends or the plugin exits (a Read that blocks on
	// holds only that copy's goroutine). plugwire does not use the
	// plugin's stdin.
	Stdin io.Reader

	// TerminalGroup keeps the plugin in the host's own process group
	// instead of one of its own (Unix; as when Stdin is a terminal), so
	// that what the plugin starts can prompt on the host's terminal: ssh
	// or sudo reading /dev/tty from a background group is stopped by
	// SIGTTIN for good. A forced kill then ends the plugin alone, not what
	// it started, and a plugin whose host died cannot end its group.
	TerminalGroup bool

	// MinPort and MaxPort bound, inclusively, the ports the plugin may
	// listen on (see EnvMinPort). Zero means DefaultMinPort (10000) and
	// DefaultMaxPort (25000).
	MinPort int
	MaxPort int

	// StartTimeout bounds a start: how long the plugin may take to print
	// its address, accept the connection and answer the host's preamble,
	// including the restarts after a full port range (see ErrNoFreePort);
	// the answer is due within 10 s of the host connecting in any case.
	// Start's context bounds a start too. Zero means DefaultStartTimeout
	// (one minute); negative means none, so that only Start's context
	// bounds a start (a first Dispense's start is then unbounded).
	StartTimeout time.Duration

	// KillGrace is how long Kill waits for the plugin to quit when asked
	// (its running methods' contexts cancelled) before it kills the
	// process and its process group (job object on Windows). The plugin
	// gets it at start, and gives its running methods as long to return
	// when its host is done or dies. Zero means DefaultKillGrace (two
	// seconds); negative means none: Kill kills the process and its group
	// at once, and the plugin gives its methods no time.
	KillGrace time.Duration

	// Logger gets the plugin's stderr, line by line, under the plugin's
	// name, and the host's own events about the plugin. An hclog JSON line
	// keeps its level, message and fields; a line that starts with a level
	// in brackets ("[WARN] ...", also after the date and time the standard
	// library's log writes) is logged at that level; a Go panic at Error;
	// any other line at StderrLevel. Nil means an hclog logger named
	// "plugwire" on stderr at Info.
	Logger hclog.Logger

	// StderrLevel is the level of the plugin's stderr lines that say none
	// (not hclog JSON, no "[LEVEL]" prefix, not a panic), such as a plain
	// log.Printf. Zero (hclog.NoLevel) means Debug, as go-plugin does: with
	// the default Info logger those lines are not shown. A host that wants
	// to see them sets hclog.Info.
	StderrLevel hclog.Level

	// Stdout gets what the plugin writes on stdout after its address line.
	// Nil means each line is logged at Info on Logger.
	Stdout io.Writer

	// SHA256, when set, is the hex SHA-256 the binary Cmd names must have,
	// a pin on the bytes that run: a mismatch fails the start with an
	// error wrapping ErrChecksum. On Linux the binary is copied into a
	// sealed in-memory file (memfd), the copy is hashed, and the plugin
	// starts from that copy, so no later change to the file can reach
	// the process; the copy is used again, without hashing, for starts
	// while the file keeps its identity (device, inode, size, times), and
	// dropped a minute after its last start. On Windows the file is hashed
	// through a handle that lets nobody write, delete or rename it until
	// the start is done; elsewhere it is hashed before every start. The
	// hash runs under Start's context and Kill.
	// Empty means not checked.
	SHA256 string

	// Reattach, when set, is a plugin already running in debug mode for
	// the Client to connect to instead of starting Cmd (see Reattach and
	// LookupReattach). Nil means start Cmd: a Client never reads
	// EnvReattach by itself.
	Reattach *Reattach

	// Plugins are what Dispense can return, by name. Nil means plugwire's
	// own contracts: "builder" (shared.BuilderPlugin) and "command"
	// (shared.CommandPlugin). A plugin set's component "KIND/NAME" that
	// Plugins does not name is dispensed with Plugins[KIND], so the default
	// dispenses any "builder/NAME" and "command/NAME". The Client keeps
	// its own copy of the map.
	Plugins map[string]plugin.Plugin
}
