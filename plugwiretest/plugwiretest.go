// Package plugwiretest tests plugwire plugins: in the test's own process,
// over the same wire as a plugin binary, or as the real binary.
//
// Builder, Command, Contract and Dispense serve an implementation in the
// test's process over a real loopback TCP connection, with plugwire's
// preamble and go-plugin's net/rpc protocol, exactly as a plugin binary
// does: configs cross as JSON, arguments and replies as gob, callbacks
// (Build, Ui, Environment, a contract's own) and byte streams on streams
// of the same connection, cancellation and errors as in production. A value that does not survive the trip fails in
// the test, not in the field. Binary builds a plugin's main package and
// returns a host client for the real process.
//
// Everything is torn down by t.Cleanup: methods still running are
// cancelled, and must return within CallGrace; then the connection is
// closed and every goroutine the kit started has ended. The functions are
// safe in parallel tests. A test that checks for leaked goroutines with
// go.uber.org/goleak does so after the kit's cleanup: in TestMain
// (goleak.VerifyTestMain), or with t.Cleanup(func() { goleak.VerifyNone(t) })
// registered before the kit is used (cleanups run last registered first).
package plugwiretest

import (
	"context"
	"fmt"
	"net"
	"net/rpc"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/sidestream"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// CallGrace is how long a plugin method still running when the test ends
// has to return once its context is cancelled. One that does not is a
// test failure: a plugin must return promptly once ctx is done, or its
// host kills it.
const CallGrace = 10 * time.Second

// Builder serves b as a builder plugin in the test's process and returns
// the shared.Builder a host would get for it.
func Builder(t testing.TB, b shared.Builder) shared.Builder {
	t.Helper()
	if b == nil {
		t.Fatal("plugwiretest.Builder: the shared.Builder is nil")
	}
	raw := Dispense(t, map[string]plugin.Plugin{shared.BuilderPluginName: &shared.BuilderPlugin{Impl: b}}, shared.BuilderPluginName)
	return raw.(shared.Builder)
}

// Command serves c as a command plugin in the test's process and returns
// what a host's Client.Command gets for it: a shared.RemoteCommand, whose
// RunErr and SynopsisErr also return the errors of the calls themselves.
func Command(t testing.TB, c shared.Command) shared.RemoteCommand {
	t.Helper()
	if c == nil {
		t.Fatal("plugwiretest.Command: the shared.Command is nil")
	}
	raw := Dispense(t, map[string]plugin.Plugin{shared.CommandPluginName: &shared.CommandPlugin{Impl: c}}, shared.CommandPluginName)
	return raw.(shared.RemoteCommand)
}

// Dispense serves plugins (any go-plugin net/rpc plugins, with their Impl
// set, as a plugin binary's main gives them to plugwire.Serve) in the
// test's process, connects to them as a host does with the same map, and
// returns what the host's Dispense(name) returns. Each call has its own
// connection. Like t.Fatal, it must be called from the test's goroutine.
func Dispense(t testing.TB, plugins map[string]plugin.Plugin, name string) any {
	t.Helper()
	k, err := serve(plugins)
	if err != nil {
		t.Fatalf("plugwiretest: serving %q: %v", name, err)
	}
	t.Cleanup(func() { k.close(t, CallGrace) })
	raw, err := k.rpc.Dispense(name)
	if err != nil {
		if perr := k.pending.Err(); perr != nil {
			err = perr
		}
		t.Fatalf("plugwiretest: dispensing %q: %v", name, err)
	}
	return raw
}

// kit is one in-process plugin and the host's connection to it.
type kit struct {
	calls   *calls
	stop    chan struct{} // closed to stop the plugin side
	served  chan struct{} // closed once the plugin side has returned
	conn    *muxconn.Conn // the host's end
	rpc     *plugin.RPCClient
	pending *wire.Pending
	left    int // methods still running CallGrace after the hang-up; set before served is closed
}

// handshakeWait bounds the in-process preamble, which takes microseconds.
const handshakeWait = 2 * wire.HandshakeTimeout

// serve starts the plugin side on a fresh loopback listener and connects
// to it as a host does.
func serve(plugins map[string]plugin.Plugin) (*kit, error) {
	secret, err := wire.NewSecret()
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on loopback: %w", err)
	}
	k := &kit{calls: newCalls(), stop: make(chan struct{}), served: make(chan struct{})}
	deadline := time.Now().Add(handshakeWait)
	type accepted struct {
		conn net.Conn
		err  error
	}
	acc := make(chan accepted, 1)
	go func() {
		conn, err := wire.AcceptHost(ln, secret, deadline, k.stop)
		acc <- accepted{conn, err}
	}()
	fail := func(err error) (*kit, error) {
		close(k.stop)
		if a := <-acc; a.conn != nil {
			_ = a.conn.Close()
		}
		return nil, err
	}
	d := net.Dialer{Deadline: deadline}
	raw, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		return fail(fmt.Errorf("connecting to %s: %w", ln.Addr(), err))
	}
	// Streams move to connections of their own, as between processes.
	hostSide := &sidestream.Side{Secret: secret}
	k.conn, k.rpc, k.pending, err = rpcconn.Open(raw, secret, deadline, sidestream.Wrap(plugins, hostSide), rpcconn.Eager)
	if err != nil {
		return fail(fmt.Errorf("opening the RPC session: %w", err))
	}
	a := <-acc
	if a.err != nil {
		_ = k.conn.Close()
		_ = k.rpc.Close()
		return fail(a.err)
	}
	pluginSide := &sidestream.Side{Secret: secret, Listen: func() (net.Listener, error) {
		return lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	}}
	served := k.calls.wrap(sidestream.Wrap(plugins, pluginSide))
	go func() {
		defer close(k.served)
		// Builder and Command calls were ended (close) before the hang-up;
		// the methods of other contracts are cancelled by it, and get
		// CallGrace to return.
		k.left = rpcconn.ServeLeft(a.conn, served, k.stop, CallGrace)
	}()
	return k, nil
}

// serveEndWait bounds how long the plugin side may take to see the host
// hang up.
const serveEndWait = 5 * time.Second

// close ends what serve started: it cancels the calls still running and
// waits up to grace for them, hangs up as a host's Kill does, and waits
// for the plugin side to return.
func (k *kit) close(t testing.TB, grace time.Duration) {
	running := k.calls.end(grace)
	if len(running) > 0 {
		t.Errorf("plugwiretest: still running %v after their context was cancelled at the end of the test: a plugin must return promptly once ctx is done", running)
	}
	// Hang up the way a host's Kill does: close the write side, so that
	// what the plugin still sends arrives, and let its side end first.
	_ = k.conn.CloseWrite()
	t2 := time.NewTimer(CallGrace + serveEndWait)
	defer t2.Stop()
	select {
	case <-k.served:
		if k.left > 0 && len(running) == 0 {
			t.Errorf("plugwiretest: %d method(s) still running %v after their context was cancelled at the end of the test: a plugin must return promptly once ctx is done", k.left, CallGrace)
		}
	case <-t2.C:
		t.Errorf("plugwiretest: the plugin side did not end within %v of the host hanging up", CallGrace+serveEndWait)
		close(k.stop)
		<-k.served
	}
	_ = k.rpc.Close()
	_ = k.conn.Close()
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
}

// wrap returns plugins as the plugin side serves them: the Impl of
// plugwire's own contracts wrapped so that calls tracks their calls, and
// every plugin's RPC server checked as net/rpc will serve it.
func (c *calls) wrap(plugins map[string]plugin.Plugin) map[string]plugin.Plugin {
	out := make(map[string]plugin.Plugin, len(plugins))
	for name, p := range plugins {
		switch sp := p.(type) {
		case *shared.BuilderPlugin:
			if sp.Impl != nil {
				p = &shared.BuilderPlugin{Impl: &builder{impl: sp.Impl, calls: c}}
			}
		case *shared.CommandPlugin:
			if sp.Impl != nil {
				p = &shared.CommandPlugin{Impl: &command{impl: sp.Impl, calls: c}}
			}
		}
		out[name] = checked{p}
	}
	return out
}

// checked is a plugin whose RPC server is checked before go-plugin serves
// it: go-plugin only logs a server net/rpc refuses (unexported argument
// types, no suitable methods), and the host's calls on it then wait
// forever. The kit makes that Dispense fail instead.
type checked struct{ plugin.Plugin }

func (c checked) Server(b *plugin.MuxBroker) (any, error) {
	impl, err := c.Plugin.Server(b)
	if err != nil {
		return nil, err
	}
	if err := rpc.NewServer().RegisterName("Plugin", impl); err != nil {
		return nil, fmt.Errorf("plugwiretest: net/rpc cannot serve the %T this plugin's Server returned: %v", impl, err)
	}
	return impl, nil
}

// Contract serves impl, an implementation of c's interface, in the test's
// process as a plugin serves it, and returns the T a host would get for
// it: every call crosses the real wire (arguments, errors, callbacks,
// streams, cancellation), as in production.
func Contract[T any](t testing.TB, c *contract.Contract[T], impl T) T {
	t.Helper()
	if any(impl) == nil {
		t.Fatalf("plugwiretest.Contract: the %s is nil", c.Name())
	}
	raw := Dispense(t, map[string]plugin.Plugin{contractKind: c.Plugin(impl)}, contractKind)
	return raw.(T)
}

// contractKind is the name Contract serves its implementation under.
const contractKind = "contract"
