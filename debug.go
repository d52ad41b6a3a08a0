package plugwire

import (
	"errors"
	"fmt"
	"net"
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
	hosts := newHostListener(ln)
	defer hosts.close()

	stop := make(chan struct{})
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		if _, ok := <-sigc; ok {
			close(stop)
		}
	}()

	name := debugName(os.Args[0])
	entry := wire.ReattachEntry{Addr: ln.Addr().String(), Secret: secret.Env(), Pid: os.Getpid()}
	fmt.Fprintf(os.Stderr, "%s: debug mode (pid %d): serving hosts one after another on %s until interrupted; run a host with this in its environment:\n%s\n",
		name, os.Getpid(), ln.Addr(), wire.ReattachLine(name, entry))
	for n := 1; ; n++ {
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
		rpcconn.Serve(conn, plugins, stop, grace)
		fmt.Fprintf(os.Stderr, "%s: host %d disconnected\n", name, n)
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
// to one view at a time. wire.AcceptHost closes the listener it is given
// once a host has proven itself; closing a view leaves the port open and
// the next host's connection waiting for the next view, as in a backlog.
type hostListener struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{} // closed when accepting failed; see error
	fail  error
	wg    sync.WaitGroup
}

func newHostListener(ln net.Listener) *hostListener {
	h := &hostListener{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(h.done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				h.fail = err
				return
			}
			select {
			case h.conns <- conn:
			case <-time.After(debugBacklogWait):
				// Nobody took it: a host still in its session, and this
				// connection not worth holding a goroutine for longer.
				_ = conn.Close()
			}
		}
	}()
	return h
}

// debugBacklogWait is how long a connection that arrives while a host is
// being served waits for the next view. A host's reattach waits for its
// answer up to its StartTimeout (a minute by default).
const debugBacklogWait = time.Minute

// err returns why accepting failed, once it has.
func (h *hostListener) err() error {
	select {
	case <-h.done:
		if errors.Is(h.fail, net.ErrClosed) {
			return nil
		}
		return h.fail
	default:
		return nil
	}
}

// next returns a listener for one wire.AcceptHost.
func (h *hostListener) next() net.Listener {
	return &hostView{h: h, closed: make(chan struct{})}
}

// close closes the port and waits for the accepting goroutine.
func (h *hostListener) close() {
	_ = h.ln.Close()
	h.wg.Wait()
}

type hostView struct {
	h      *hostListener
	once   sync.Once
	closed chan struct{}
}

func (v *hostView) Accept() (net.Conn, error) {
	if isClosed(v.closed) {
		return nil, net.ErrClosed
	}
	select {
	case c := <-v.h.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.h.done:
		return nil, net.ErrClosed
	}
}

func (v *hostView) Close() error {
	v.once.Do(func() { close(v.closed) })
	return nil
}

func (v *hostView) Addr() net.Addr { return v.h.ln.Addr() }
