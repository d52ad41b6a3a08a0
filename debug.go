package plugwire

import (
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/wire"
)

// EnvDebug, set to 1 in the environment of a plugin run by hand (directly
// or under a debugger, such as dlv exec), makes Serve run in debug mode:
// it needs no host, listens on a free port of its range (the host's
// default range when PACKER_PLUGIN_MIN_PORT and PACKER_PLUGIN_MAX_PORT are
// not set), prints on stderr a line to paste into another shell,
//
//	PLUGWIRE_REATTACH='{"NAME":{"addr":"127.0.0.1:PORT","secret":"HEX","pid":N}}'
//
// and serves one host after another, each connecting with that in its
// environment (see host.Config.Reattach), until it is interrupted
// (Ctrl-C or SIGTERM). NAME is the base name of the binary, without
// .exe: a host reattaches to it for a Config.Cmd with that base name.
//
// It serves one host connection (one host.Client) at a time, until that
// Client is killed, as its components' state is shared: a Client that
// connects while another is served waits up to 3 s for its turn, then
// starts and gets a session whose every Dispense fails with "NAME is in
// debug mode (pid N) and serving another host: it serves one host at a
// time; ...". A host running two builds of the plugin at once, keeping
// each build's Client until both end (as examples/host and Packer do),
// gets one build served and the other failed; run one build of a
// debugged plugin at a time. The wait is short on purpose: such a host
// would fail the same build after a longer wait too, only later.
// EnvDebug is ignored in a plugin a host started.
const EnvDebug = wire.EnvDebug

// debugForever stands for "no deadline" for a host to connect.
const debugForever = 100 * 365 * 24 * time.Hour

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
	name := debugName(os.Args[0])

	stop := make(chan struct{}) // Ctrl-C
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		if _, ok := <-sigc; ok {
			close(stop)
		}
	}()
	ended := make(chan struct{}) // Ctrl-C, or serveDebug returning
	returned := make(chan struct{})
	go func() {
		select {
		case <-stop:
		case <-returned:
		}
		close(ended)
	}()
	busy := busyPlugins(plugins, name)
	hosts := newHostListener(ln, func(conn net.Conn) {
		// A host that found the plugin serving another: it gets a
		// session whose every Dispense says so, rather than a wait it
		// cannot tell from a hang.
		c, err := wire.AcceptHost(&oneConn{conn: conn, closed: make(chan struct{})}, secret, time.Now().Add(2*wire.HandshakeTimeout), ended)
		if err != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "%s: another host connected while one is being served: told it so\n", name)
		rpcconn.Serve(c, busy, ended, 0)
	})
	defer hosts.close()
	defer close(returned)

	entry := wire.ReattachEntry{Addr: ln.Addr().String(), Secret: secret.Env(), Pid: os.Getpid()}
	fmt.Fprintf(os.Stderr, "%s: debug mode (pid %d): serving hosts one after another on %s until interrupted; run a host with this in its environment:\n%s\n",
		name, os.Getpid(), ln.Addr(), wire.ReattachLine(name, entry))
	for n := 1; ; {
		conn, err := wire.AcceptHost(hosts.next(), secret, time.Now().Add(debugForever), stop)
		switch {
		case isClosed(stop):
			if conn != nil {
				_ = conn.Close()
			}
			fmt.Fprintf(os.Stderr, "%s: interrupted: debug mode ended\n", name)
			return nil
		case hosts.err() != nil:
			return fmt.Errorf("debug mode: accepting hosts on %s: %w", ln.Addr(), hosts.err())
		case err != nil:
			// A proven host of another protocol version: it was told.
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "%s: host %d connected\n", name, n)
		if h, ok := conn.(*handedConn); ok {
			conn = h.Conn // the TCP conn, which muxconn writes with writev
		}
		rpcconn.Serve(conn, plugins, stop, grace)
		hosts.release()
		fmt.Fprintf(os.Stderr, "%s: host %d disconnected\n", name, n)
		n++
	}
}

// debugName is the name a host finds a plugin in debug mode by: the base
// name of its binary, without .exe.
func debugName(arg0 string) string {
	name := filepath.Base(arg0)
	if ext := filepath.Ext(name); strings.EqualFold(ext, ".exe") {
		name = strings.TrimSuffix(name, ext)
	}
	return name
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// hostListener keeps the debug-mode listener open across hosts: it
// accepts on it for as long as the plugin runs, and hands the connections
// to one view at a time (wire.AcceptHost closes the listener it is given
// once a host has proven itself, and so only closes its view), and to
// that view one at a time: the next connection is handed over only once
// the previous one failed its preamble, or its host was served. So a host
// that connects just as the one before it hangs up waits its turn, rather
// than being closed as a connection that lost a race. A connection that
// has waited debugTurnWait goes to busy instead: the plugin serves one
// host at a time, and a second one (a Packer-like host reattaching two
// builds to one plugin at once) is told so at once rather than left
// waiting until its start times out.
type hostListener struct {
	ln    net.Listener
	busy  func(net.Conn) // serves a connection that found no turn
	conns chan net.Conn
	turn  chan struct{} // holds a token while no connection is handed out
	done  chan struct{} // closed when accepting failed; see err
	fail  error
	wg    sync.WaitGroup

	mu      sync.Mutex
	current *handedConn // the connection handed out last
}

// debugTurnWait is how long a connection waits for its turn before it is
// told that the plugin is busy: long enough for the host before it, which
// has hung up, to be done with.
const debugTurnWait = 3 * time.Second

func newHostListener(ln net.Listener, busy func(net.Conn)) *hostListener {
	h := &hostListener{ln: ln, busy: busy, conns: make(chan net.Conn), turn: make(chan struct{}, 1), done: make(chan struct{})}
	h.turn <- struct{}{}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(h.done)
		var delay time.Duration
		for {
			conn, err := ln.Accept()
			if err != nil && !errors.Is(err, net.ErrClosed) {
				// Out of descriptors, a connection reset before it was
				// accepted: try again, with back-off, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			if err != nil {
				h.fail = err
				return
			}
			delay = 0
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				t := time.NewTimer(debugTurnWait)
				defer t.Stop()
				select {
				case h.conns <- conn:
				case <-t.C:
					h.busy(conn)
				case <-h.done:
					_ = conn.Close()
				}
			}()
		}
	}()
	return h
}

// err returns why accepting ended, once it has: the listener was closed.
func (h *hostListener) err() error {
	select {
	case <-h.done:
		return h.fail
	default:
		return nil
	}
}

// next returns a listener for one wire.AcceptHost.
func (h *hostListener) next() net.Listener {
	return &hostView{h: h, closed: make(chan struct{})}
}

// release gives the next connection its turn once the host of the last
// one handed out has been served.
func (h *hostListener) release() {
	h.mu.Lock()
	hc := h.current
	h.mu.Unlock()
	if hc != nil {
		hc.release()
	}
}

// close closes the port and waits for the accepting goroutines.
func (h *hostListener) close() {
	_ = h.ln.Close()
	h.wg.Wait()
}

// hostView is the listener one wire.AcceptHost gets.
type hostView struct {
	h      *hostListener
	once   sync.Once
	closed chan struct{}
}

// Accept returns the next connection once the previous one handed out is
// closed.
func (v *hostView) Accept() (net.Conn, error) {
	select {
	case <-v.h.turn:
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.h.done:
		return nil, net.ErrClosed
	}
	if isClosed(v.closed) {
		v.h.turn <- struct{}{}
		return nil, net.ErrClosed
	}
	select {
	case c := <-v.h.conns:
		hc := &handedConn{Conn: c, turn: v.h.turn}
		v.h.mu.Lock()
		v.h.current = hc
		v.h.mu.Unlock()
		return hc, nil
	case <-v.closed:
	case <-v.h.done:
	}
	v.h.turn <- struct{}{}
	return nil, net.ErrClosed
}

func (v *hostView) Close() error {
	v.once.Do(func() { close(v.closed) })
	return nil
}

func (v *hostView) Addr() net.Addr { return v.h.ln.Addr() }

// handedConn is a connection handed to a view: closing it, or releasing
// it once its host has been served, gives the next connection its turn.
type handedConn struct {
	net.Conn
	turn chan struct{}
	once sync.Once
}

func (c *handedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

func (c *handedConn) release() {
	c.once.Do(func() { c.turn <- struct{}{} })
}

// oneConn is a listener that yields one connection, then waits until it is
// closed.
type oneConn struct {
	conn   net.Conn
	taken  bool
	once   sync.Once
	closed chan struct{}
}

func (o *oneConn) Accept() (net.Conn, error) {
	if !o.taken {
		o.taken = true
		return o.conn, nil
	}
	<-o.closed
	return nil, net.ErrClosed
}

func (o *oneConn) Close() error {
	o.once.Do(func() { close(o.closed) })
	return nil
}

func (o *oneConn) Addr() net.Addr { return o.conn.LocalAddr() }

// busyPlugins are served to a host that connected while another is being
// served: each Dispense fails with a message saying why.
func busyPlugins(plugins map[string]plugin.Plugin, name string) map[string]plugin.Plugin {
	msg := fmt.Sprintf("%s is in debug mode (pid %d) and serving another host: it serves one host at a time; run one build with it at a time", name, os.Getpid())
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
