// Package rpcconn runs go-plugin's net/rpc protocol over one plugwire
// connection, once for every caller: the plugin side (Serve, used by the
// root package's Serve, its debug mode and plugwiretest) and the host side
// (Open, used by package host and plugwiretest, in the Mode each needs).
package rpcconn

import (
	"io"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/internal/wire"
)

// serveEndWait bounds how long Serve waits, after closing the connection,
// for go-plugin's server to notice and return.
const serveEndWait = time.Second

// Serve serves plugins on conn, a connection whose host has proven the
// secret (wire.AcceptHost), until the host closes the connection or asks
// the plugin to quit, or stop is closed. Then it cancels the contexts of
// the methods still running and waits up to grace for them to return (see
// finish), closes conn, waits boundedly for go-plugin's server to return,
// and returns.
func Serve(conn net.Conn, plugins map[string]plugin.Plugin, stop <-chan struct{}, grace time.Duration) {
	ServeLeft(conn, plugins, stop, grace)
}

// ServeLeft is Serve, and returns how many methods were still running
// when grace ended (plugwiretest fails a test for them).
func ServeLeft(conn net.Conn, plugins map[string]plugin.Plugin, stop <-chan struct{}, grace time.Duration) (left int) {
	mc := muxconn.Wrap(conn)
	var sess rpcx.Session
	quit := make(chan struct{})
	served := make(chan struct{})
	srv := &plugin.RPCServer{
		Plugins: inSession(plugins, &sess),
		// go-plugin streams these to the host; plugwire's host reads the
		// process's own stdout and stderr instead, so there is nothing to send.
		Stdout: strings.NewReader(""),
		Stderr: strings.NewReader(""),
		DoneCh: quit,
	}
	go func() {
		srv.ServeConn(mc)
		close(served)
	}()
	select {
	case <-served:
		left = finish(&sess, grace, "the host closed the connection")
	case <-quit:
		left = finish(&sess, grace, "the host asked the plugin to quit")
	case <-stop:
		left = finish(&sess, grace, "the host is gone")
	}
	_ = mc.Close()
	t := time.NewTimer(serveEndWait)
	defer t.Stop()
	select {
	case <-served:
	case <-t.C:
	}
	return left
}

// Mode says how Open starts the host's side of a connection.
type Mode int

const (
	// Eager starts go-plugin's session at once, without waiting for the
	// plugin's answer to the hello, which the session's first read checks
	// (wire.Pending): this saves a round trip. Nothing a caller gives
	// crosses before the answer is checked: every call needs a dispensed
	// object, and Dispense's reply is read only after the answer.
	Eager Mode = iota
	// Proven waits for the plugin's answer before go-plugin's session
	// starts (host.Client.Start): nothing but the preamble crosses before
	// the plugin has proven the secret.
	Proven
	// Debug is Eager for a plugin in debug mode, which may be stopped at a
	// breakpoint for longer than yamux allows: yamux's keepalive pings are
	// answered on the host's side (see localPings), and the hello does not
	// probe for an old plugin (see wire.SendHelloProbing).
	Debug
)

// Open starts the host's side of a connection to a plugin as mode says:
// it sends the hello proving s on raw and opens go-plugin's RPC session
// over it. The plugin's answer is due by due. On failure raw is closed;
// when the answer failed its check, pending.Err says why.
func Open(raw net.Conn, s wire.Secret, due time.Time, plugins map[string]plugin.Plugin, mode Mode) (conn *muxconn.Conn, rpcClient *plugin.RPCClient, pending *wire.Pending, err error) {
	if mode == Debug {
		pending, err = wire.SendHello(raw, s, due) // see SendHelloProbing
	} else {
		pending, err = wire.SendHelloProbing(raw, s, due)
	}
	if err != nil {
		_ = raw.Close()
		return nil, nil, nil, err
	}
	if mode == Proven {
		if err := pending.Check(); err != nil {
			_ = raw.Close()
			return nil, nil, pending, err
		}
	}
	conn = muxconn.Wrap(raw)
	// A failed check resets the streams the session has opened, so it is
	// reported only once go-plugin has finished opening them: yamux logs
	// "[ERR] yamux: aborted stream open" for a stream reset while its
	// opening is under way. Opening a stream never waits for a read.
	opened := make(chan struct{})
	conn.ReadAfter(func() error {
		err := pending.Check() // at once when already checked
		if err != nil {
			<-opened
		}
		return err
	})
	var rwc io.ReadWriteCloser = conn
	if mode == Debug {
		rwc = newLocalPings(conn)
	}
	rpcClient, err = plugin.NewRPCClient(rwc, plugins)
	close(opened)
	if err != nil {
		_ = rwc.Close()
		return nil, nil, pending, err
	}
	return conn, rpcClient, pending, nil
}
