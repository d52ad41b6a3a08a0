package plugwire

import (
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/sidestream"
	"github.com/plugwire/plugwire/internal/wire"
)

// Debug mode (host.EnvDebug, which documents it for both sides): Serve
// needs no host, prints the line for host.EnvReattach, and serves one
// host connection after another until interrupted.

// serveDebug is Serve in debug mode.
func serveDebug(plugins map[string]plugin.Plugin) error {
	minPort, maxPort, err := wire.PortRange(os.LookupEnv)
	if errors.Is(err, wire.ErrNotStartedByHost) {
		minPort, maxPort = wire.DefaultMinPort, wire.DefaultMaxPort
	} else if err != nil {
		return err
	}
	grace, err := wire.KillGrace(os.LookupEnv)
	if err != nil {
		return err
	}
	secret, err := wire.NewSecret()
	if err != nil {
		return err
	}
	ln, err := wire.Listen(minPort, maxPort)
	if err != nil {
		return err
	}
	name := wire.BinaryName(os.Args[0])

	stop := make(chan struct{}) // Ctrl-C
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		if _, ok := <-sigc; ok {
			close(stop)
		}
	}()
	busy := busyPlugins(plugins, name)
	plugins = sidestream.Wrap(plugins, &sidestream.Side{Secret: secret, Listen: sidestream.PortRange(minPort, maxPort)})
	turn := make(chan struct{}, 1) // holds a token while no host is served
	turn <- struct{}{}
	var hosts atomic.Int64
	serve := func(conn net.Conn) {
		// A proven host waits its turn briefly (the host before it may be
		// hanging up); only proven hosts wait, so silent connections
		// cannot keep one out.
		t := time.NewTimer(debugTurnWait)
		select {
		case <-turn:
			t.Stop()
		case <-t.C:
			// Serving another: a session whose every Dispense says so,
			// rather than a wait it cannot tell from a hang.
			fmt.Fprintf(os.Stderr, "%s: another host connected while one is being served: told it so\n", name)
			rpcconn.Serve(conn, busy, stop, 0)
			return
		case <-stop:
			t.Stop()
			_ = conn.Close()
			return
		}
		defer func() { turn <- struct{}{} }()
		n := hosts.Add(1)
		fmt.Fprintf(os.Stderr, "%s: host %d connected\n", name, n)
		rpcconn.Serve(conn, plugins, stop, grace)
		fmt.Fprintf(os.Stderr, "%s: host %d disconnected\n", name, n)
	}

	entry := wire.ReattachEntry{Addr: ln.Addr().String(), Secret: secret.Env(), Pid: os.Getpid()}
	fmt.Fprintf(os.Stderr, "%s: debug mode (pid %d): serving hosts one after another on %s until interrupted; run a host with this in its environment:\n%s\n",
		name, os.Getpid(), ln.Addr(), wire.ReattachLine(name, entry))
	addr := ln.Addr()
	if err := wire.ServeHosts(ln, secret, stop, serve); err != nil {
		return fmt.Errorf("debug mode: accepting hosts on %s: %w", addr, err)
	}
	fmt.Fprintf(os.Stderr, "%s: interrupted: debug mode ended\n", name)
	return nil
}

// debugTurnWait is how long a host that proved the secret waits for its
// turn before it is told that the plugin is busy: long enough for the
// host before it, which has hung up, to be done with.
const debugTurnWait = 3 * time.Second

// busyPlugins are served to a host that connected while another is being
// served: each Dispense fails with a message saying why.
func busyPlugins(plugins map[string]plugin.Plugin, name string) map[string]plugin.Plugin {
	msg := fmt.Sprintf("%s is in debug mode (pid %d) and serving another Client: it serves one host.Client at a time, until that Client is killed; run one build with it at a time", name, os.Getpid())
	busy := make(map[string]plugin.Plugin, len(plugins))
	for k := range plugins {
		busy[k] = busyPlugin(msg)
	}
	return busy
}

type busyPlugin string

func (b busyPlugin) Server(*plugin.MuxBroker) (any, error) { return nil, errors.New(string(b)) }

func (b busyPlugin) Client(*plugin.MuxBroker, *rpc.Client) (any, error) {
	return nil, errors.New(string(b))
}
