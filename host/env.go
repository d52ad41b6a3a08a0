package host

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/plugwire/plugwire/internal/wire"
)

// EnvMinPort ("PACKER_PLUGIN_MIN_PORT") and EnvMaxPort
// ("PACKER_PLUGIN_MAX_PORT") bound, inclusively, the ports a plugin may
// listen on: the host sets them from Config.MinPort and Config.MaxPort, as
// in the original Packer plugin protocol, and plugwire.Serve reads them.
const (
	EnvMinPort = wire.EnvMinPort
	EnvMaxPort = wire.EnvMaxPort
)

// EnvDebug ("PLUGWIRE_DEBUG"), set to 1 in the environment of a plugin run by hand (directly
// or under a debugger, such as dlv exec), makes plugwire.Serve run in
// debug mode: it needs no host, listens on a free port of its range (the
// default range, DefaultMinPort to DefaultMaxPort, when EnvMinPort and
// EnvMaxPort are not set), prints on stderr a line to paste into another
// shell,
//
//	PLUGWIRE_REATTACH='{"NAME":{"addr":"127.0.0.1:PORT","secret":"HEX","pid":N}}'
//
// and serves one host after another, each connecting with that in its
// environment (a host opts in with LookupReattach, or sets
// Config.Reattach), until it is interrupted (Ctrl-C or SIGTERM). NAME is
// the base name of the binary, without .exe: LookupReattach finds it for
// a Config.Cmd with that base name.
//
// It serves one host connection (one Client) at a time, until that Client
// is killed, as its components' state is shared: a Client that proves the
// secret while another is served waits up to 3 s for its turn, then
// starts and gets a session whose every Dispense fails with "NAME is in
// debug mode (pid N) and serving another Client: it serves one
// host.Client at a time ...". A host running two builds of the plugin at once, keeping
// each build's Client until both end (as examples/host and Packer do),
// gets one build served and the other failed; run one build of a debugged
// plugin at a time. The wait is short on purpose: such a host would fail
// the same build after a longer wait too, only later. Local connections
// that do not prove the secret cannot keep a host out: they are held as a
// started plugin holds them (at most 32, the oldest closed first, each for
// at most the handshake timeout), and a host that proves the secret is
// served within a round trip however many are open. EnvDebug is ignored
// in a plugin a host started, and a host never passes it on.
const EnvDebug = wire.EnvDebug

// EnvReattach ("PLUGWIRE_REATTACH") is the environment variable through which a person points
// a host at plugins running in debug mode (see EnvDebug): JSON naming
// each by the base name of its binary, as the plugin prints it,
//
//	PLUGWIRE_REATTACH='{"NAME":{"addr":"127.0.0.1:PORT","secret":"HEX","pid":N}}'
//
// No Client reads it by itself: a host that offers debugging opts in with
// LookupReattach, whose result goes in Config.Reattach. A Client that
// starts its own process while the variable is set logs one warning
// naming the entries and the name it would need, and the plugins a host
// starts never see the variable.
const EnvReattach = wire.EnvReattach

// hostSet are the variables the host sets for the plugin it starts, and
// those that must never reach a started plugin (a debug plugin's secrets,
// debug mode): a Config.Cmd.Env that holds one loses it.
var hostSet = []string{
	wire.EnvMinPort, wire.EnvMaxPort, wire.EnvSecret, wire.EnvLifeline,
	wire.EnvConnectTimeout, wire.EnvKillGrace, wire.EnvReattach, wire.EnvDebug,
}

// pluginEnv is the environment a started plugin gets before the host adds
// its own variables: env as the caller gave it, without hostSet; or, when
// env is nil, the host's environment without any plugwire variable
// (PLUGWIRE_*, PACKER_PLUGIN_*), which the host did not set for the plugin.
func pluginEnv(env []string) []string {
	inherited := env == nil
	if inherited {
		env = os.Environ()
	}
	out := make([]string, 0, len(env)+8)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if runtime.GOOS == "windows" {
			name = strings.ToUpper(name) // names are case-insensitive there
		}
		if slices.Contains(hostSet, name) ||
			inherited && (strings.HasPrefix(name, "PLUGWIRE_") || strings.HasPrefix(name, "PACKER_PLUGIN_")) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startCopy returns the exec.Cmd to start for cmd: a copy, so that what
// the host adds (its secret in Env, the lifeline in ExtraFiles, the
// standard streams, the process group in SysProcAttr) never shows in the
// caller's Config.Cmd, which a host may log or start again.
func startCopy(cmd *exec.Cmd) *exec.Cmd {
	cp := *cmd
	cp.Args = slices.Clone(cmd.Args)
	cp.Env = pluginEnv(cmd.Env)
	cp.ExtraFiles = slices.Clone(cmd.ExtraFiles)
	if cmd.SysProcAttr != nil {
		a := *cmd.SysProcAttr
		cp.SysProcAttr = &a
	}
	return &cp
}

// execPath is the path to run the file at path by: a path without a
// separator ("x", as filepath.Join(".", "x") gives) is made "./x", so that
// the file found is run, never a program of that name in PATH.
func execPath(path string) string {
	seps := "/"
	if runtime.GOOS == "windows" {
		seps = `/\`
	}
	if path == "" || strings.ContainsAny(path, seps) || filepath.VolumeName(path) != "" {
		return path
	}
	return "." + string(os.PathSeparator) + path
}
