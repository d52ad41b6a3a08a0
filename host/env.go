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
