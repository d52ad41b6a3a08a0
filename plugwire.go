// Package plugwire serves go-plugin net/rpc plugins over the port-range
// transport of the original Packer plugin protocol.
//
// A plugin binary's main calls Serve. The host (package host) starts the
// binary with PACKER_PLUGIN_MIN_PORT and PACKER_PLUGIN_MAX_PORT set; the
// plugin listens on 127.0.0.1 on the first free port of that range, prints
// the address as the first line of stdout, accepts the one connection that
// proves the host's per-launch secret, and serves go-plugin's net/rpc
// protocol (yamux, control stream, dispenser, MuxBroker) on it until the
// host is done. Any go-plugin net/rpc plugin.Plugin can be served this way
// unchanged; packages builderplugin and commandplugin wrap Serve for
// plugwire's own contracts.
//
// A binary serving several components (builders, commands, other plugin
// types) is a Set: it dispenses each as KIND/NAME and answers
// "BINARY describe", which hosts use to discover it (host.Discover). The
// map given to Serve is a Set too, without a version: every plugwire
// binary answers describe.
//
// # Output
//
// A plugin's stdout and stderr are read by its host, not sent over the
// connection. Each stderr line goes into the host's logger: a line of hclog
// JSON (hclog.LoggerOptions.JSONFormat) keeps its level, message and
// fields; a line starting with a level in brackets ("[WARN] disk low", also
// after the standard library log's date and time) gets that level; any
// other line, such as a plain log.Printf, gets the host's
// host.Config.StderrLevel, Debug unless the host says otherwise, which a
// host logging at Info does not show. So log with hclog in JSON format, or
// with a "[LEVEL]" prefix, to be seen. Stdout after the address line goes
// to the host's host.Config.Stdout or its log; print nothing on stdout
// before Serve: the first line is the address.
//
// # When work ends
//
// When the host calls Kill, closes the connection or dies, the context of
// every method still running (Builder.Run, Command.Run, and the plugin's
// side of Build.Run and Environment.Cli callbacks) is cancelled at once,
// and Serve waits for those methods to return, up to the host's
// host.Config.KillGrace (2 s by default), before it returns; the host then
// kills what is left, the plugin's process group included. So return
// promptly once ctx is done, after the cleanup the work needs (delete the
// VM). SIGINT and SIGTERM do not end a plugin: the host decides. A Ui
// message that cannot be delivered any more (the host is gone, or the
// method it was given to has returned) is logged at Warn on stderr.
//
// # Testing and debugging
//
// Package plugwiretest serves a plugin in a test's own process over the
// same wire, or builds and starts its binary. A plugin run by hand with
// PLUGWIRE_DEBUG=1 (see host.EnvDebug), directly or under dlv exec, serves
// hosts one after another; a host reattaches to it through
// PLUGWIRE_REATTACH (see host.Reattach).
package plugwire

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/component"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/sidestream"
	"github.com/plugwire/plugwire/internal/wire"
)

// Serve serves plugins to the host that started this process and returns
// when the host is done with them: it asked the plugin to quit, closed the
// connection, or went away. When the process was not started by a plugwire
// host, or the environment is wrong, Serve prints one line saying what is
// wrong on stderr and exits with status 1.
//
// plugins is a Set without a version, given as a map: a key that is a
// kind ("builder") is that kind's component under the empty name, and a
// key "KIND/NAME" is that component. So Serve answers "BINARY describe"
// as Set.Run does, listing those keys. A key that is neither a valid kind
// nor KIND/NAME (such as "Greeter" or "kv_grpc") is served but not
// listed; any other go-plugin name that happens to be a valid kind (such
// as "greeter") is listed as that kind. Other arguments are left to the
// program.
func Serve(plugins map[string]plugin.Plugin) {
	if len(os.Args) == 2 && os.Args[1] == component.DescribeArg {
		os.Exit(describeMain(filepath.Base(os.Args[0]), "", plugins, os.Stdout))
	}
	var lifeline *wire.Lifeline
	err := serve(plugins, &lifeline)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
	}
	endIfHostDied(&lifeline)
	if err != nil {
		os.Exit(1)
	}
}

// serve serves plugins; *lifeline is set to the host's lifeline once it
// is watched.
func serve(plugins map[string]plugin.Plugin, lifeline **wire.Lifeline) error {
	if debug, err := wire.DebugMode(os.LookupEnv); err != nil {
		return err
	} else if debug {
		return serveDebug(plugins)
	}
	minPort, maxPort, err := wire.PortRange(os.LookupEnv)
	if err != nil {
		return err
	}
	secretHex, ok := os.LookupEnv(wire.EnvSecret)
	if !ok {
		return fmt.Errorf("%s is not set: this plugin needs a plugwire host, which sets it", wire.EnvSecret)
	}
	_ = os.Unsetenv(wire.EnvSecret)
	secret, err := wire.ParseSecret(secretHex)
	if err != nil {
		return err
	}
	connectTimeout, err := wire.ConnectTimeout(os.LookupEnv)
	if err != nil {
		return err
	}
	grace, err := wire.KillGrace(os.LookupEnv)
	if err != nil {
		return err
	}
	ignoreStopSignals()

	var hostGone <-chan struct{}
	if v, ok := os.LookupEnv(wire.EnvLifeline); ok {
		_ = os.Unsetenv(wire.EnvLifeline)
		f, err := wire.OpenLifeline(v)
		if err != nil {
			return err
		}
		*lifeline = wire.WatchLifeline(f)
		hostGone = (*lifeline).Gone()
	}

	ln, err := wire.Listen(minPort, maxPort)
	if err != nil {
		if errors.Is(err, wire.ErrNoFreePort) {
			// Said on stdout too, where the host reads it as a token.
			_, _ = fmt.Fprintln(os.Stdout, wire.NoFreePortLine)
		}
		return err
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", ln.Addr()); err != nil {
		_ = ln.Close()
		return fmt.Errorf("printing the address line on stdout: %w", err)
	}
	conn, err := wire.AcceptHost(ln, secret, time.Now().Add(connectTimeout), hostGone)
	if err != nil {
		return err
	}
	side := &sidestream.Side{Secret: secret, Listen: sidestream.PortRange(minPort, maxPort)}
	rpcconn.Serve(conn, sidestream.Wrap(plugins, side), hostGone, grace)
	return nil
}
