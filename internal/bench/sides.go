package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/builderplugin"
	"github.com/plugwire/plugwire/commandplugin"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// Side names a way to start and talk to a plugin: a base ("plugwire",
// "floor", "stock" or "2013") and optional "+"-separated variants:
//
//   - "+gmp1": the plugin process runs with GOMAXPROCS 1 (a prototype of an
//     opt-in cap; it limits the plugin author's code);
//   - "+NAME" on "floor": both ends wrap the TCP connection with the conn
//     wrapper NAME from Wrappers ("muxconn" is internal/muxconn as shipped);
//   - "+pre" on "floor": the host proves a secret before go-plugin starts
//     and waits for the plugin's answer (wire.Prove, wire.AcceptHost), as
//     plugwire did before it pipelined the preamble;
//   - "+prepipe" on "floor": the same preamble, but the host does not wait
//     for the plugin's answer before starting go-plugin's protocol: it
//     checks the answer when it first reads, as plugwire does;
//   - "+nolifeline" on "plugwire": the host gives the plugin /dev/null as
//     standard input, so the plugin has no stdin lifeline to watch.
type Side string

// The sides of the table.
const (
	Plugwire Side = "plugwire"
	Floor    Side = "floor"
	Stock    Side = "stock"
	Y2013    Side = "2013"
)

// Kind is the contract a plugin serves.
type Kind string

// The two contracts.
const (
	KindBuilder Kind = shared.BuilderPluginName
	KindCommand Kind = shared.CommandPluginName
)

// Wrappers are the connection wrappers a "floor+NAME" side puts under yamux
// on both ends. Experimental variants live in this package only.
var Wrappers = map[string]func(net.Conn) net.Conn{
	"muxconn": func(c net.Conn) net.Conn { return muxconn.Wrap(c) },
}

// spec is a parsed Side.
type spec struct {
	base       Side
	gmp1       bool
	wrap       func(net.Conn) net.Conn
	preamble   preambleMode
	noLifeline bool
}

func parseSide(s Side) (spec, error) {
	parts := strings.Split(string(s), "+")
	sp := spec{base: Side(parts[0])}
	switch sp.base {
	case Plugwire, Floor, Stock, Y2013:
	default:
		return sp, fmt.Errorf("bench: unknown side %q", s)
	}
	for _, v := range parts[1:] {
		switch w, ok := Wrappers[v]; {
		case v == "gmp1":
			sp.gmp1 = true
		case v == "nolifeline" && sp.base == Plugwire && !sp.noLifeline:
			sp.noLifeline = true
		case v == "pre" && sp.base == Floor && sp.preamble == noPreamble:
			sp.preamble = preambleWait
		case v == "prepipe" && sp.base == Floor && sp.preamble == noPreamble:
			sp.preamble = preamblePipelined
		case ok && sp.base == Floor && sp.wrap == nil:
			sp.wrap = w
		default:
			return sp, fmt.Errorf("bench: side %q: unknown variant %q", s, v)
		}
	}
	return sp, nil
}

// Options say where plugins listen and how long they may take to start.
type Options struct {
	// MinPort and MaxPort bound the ports of the TCP sides (all but stock).
	MinPort, MaxPort int
	// StartTimeout bounds each start; zero means 30 seconds.
	StartTimeout time.Duration
}

// DefaultOptions are the options the benchmarks and the table use.
var DefaultOptions = Options{MinPort: 30100, MaxPort: 31099, StartTimeout: 30 * time.Second}

func (o Options) startTimeout() time.Duration {
	if o.StartTimeout <= 0 {
		return 30 * time.Second
	}
	return o.StartTimeout
}

// Plugin is a started plugin process as its host sees it.
type Plugin struct {
	Side Side
	// Builder or Command is set, after the Kind the plugin was started as.
	Builder shared.Builder
	Command shared.Command
	// Exited is closed once the process has been reaped.
	Exited <-chan struct{}

	killOnce sync.Once
	kill     func()
}

// Kill ends the plugin the way its side does and returns once the process
// is gone. It is safe to call more than once.
func (p *Plugin) Kill() { p.killOnce.Do(p.kill) }

// helperEnv carries "SIDE|KIND" to a re-executed helper process.
const helperEnv = "PLUGWIRE_BENCH_HELPER"

// handshake is the stock side's go-plugin handshake.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUGWIRE_BENCH_COOKIE",
	MagicCookieValue: "d0a5f1c2",
}

func hostPlugins() map[string]plugin.Plugin {
	return map[string]plugin.Plugin{
		shared.BuilderPluginName: &shared.BuilderPlugin{},
		shared.CommandPluginName: &shared.CommandPlugin{},
	}
}

// helperCmd is this binary run as the plugin of side and kind.
func helperCmd(side Side, kind Kind, o Options, portEnv bool) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: finding this binary: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+string(side)+"|"+string(kind))
	if portEnv {
		cmd.Env = append(cmd.Env,
			wire.EnvMinPort+"="+strconv.Itoa(o.MinPort),
			wire.EnvMaxPort+"="+strconv.Itoa(o.MaxPort))
	}
	return cmd, nil
}

// Start starts a plugin of kind on side and returns once the host holds
// its Builder or Command (the plugin was dispensed).
func Start(side Side, kind Kind, o Options) (*Plugin, error) {
	sp, err := parseSide(side)
	if err != nil {
		return nil, err
	}
	if kind != KindBuilder && kind != KindCommand {
		return nil, fmt.Errorf("bench: unknown kind %q", kind)
	}
	switch sp.base {
	case Plugwire:
		return startPlugwire(side, sp, kind, o)
	case Floor:
		return startFloor(side, sp, kind, o)
	case Stock:
		return startStock(side, kind, o)
	default:
		if kind != KindBuilder {
			return nil, errors.New("bench: the 2013 side serves only a builder")
		}
		return start2013(side, o)
	}
}

func (p *Plugin) set(kind Kind, raw any) error {
	var ok bool
	if kind == KindBuilder {
		p.Builder, ok = raw.(shared.Builder)
	} else {
		p.Command, ok = raw.(shared.Command)
	}
	if !ok {
		return fmt.Errorf("bench: %s dispensed a %T for %s", p.Side, raw, kind)
	}
	return nil
}

func startPlugwire(side Side, sp spec, kind Kind, o Options) (*Plugin, error) {
	cmd, err := helperCmd(side, kind, o, false)
	if err != nil {
		return nil, err
	}
	if sp.noLifeline {
		devNull, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		defer devNull.Close()
		cmd.Stdin = devNull
	}
	c := plugwireClient(cmd, o, nil)
	raw, err := c.Dispense(string(kind))
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("bench: %s: %w", side, err)
	}
	return dispensed(side, kind, raw, c.Kill)
}

// plugwireClient is the host's client of the plugin cmd starts, with
// plugins (nil: plugwire's own).
func plugwireClient(cmd *exec.Cmd, o Options, plugins map[string]plugin.Plugin) *host.Client {
	return host.NewClient(&host.Config{
		Cmd:          cmd,
		MinPort:      o.MinPort,
		MaxPort:      o.MaxPort,
		StartTimeout: o.startTimeout(),
		Logger:       hclog.NewNullLogger(),
		Plugins:      plugins,
	})
}

// dispensed is the Plugin for raw, dispensed from a client that kill ends.
func dispensed(side Side, kind Kind, raw any, kill func()) (*Plugin, error) {
	exited := make(chan struct{})
	p := &Plugin{Side: side, Exited: exited, kill: func() { kill(); close(exited) }}
	if err := p.set(kind, raw); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

func startStock(side Side, kind Kind, o Options) (*Plugin, error) {
	cmd, err := helperCmd(side, kind, o, false)
	if err != nil {
		return nil, err
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          hostPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		StartTimeout:     o.startTimeout(),
		Logger:           hclog.NewNullLogger(),
	})
	rc, err := c.Client()
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("bench: %s: %w", side, err)
	}
	raw, err := rc.Dispense(string(kind))
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("bench: %s: dispensing %s: %w", side, kind, err)
	}
	return dispensed(side, kind, raw, c.Kill)
}

func startFloor(side Side, sp spec, kind Kind, o Options) (*Plugin, error) {
	var secret wire.Secret
	var extraEnv []string
	if sp.preamble != noPreamble {
		var err error
		if secret, err = wire.NewSecret(); err != nil {
			return nil, err
		}
		extraEnv = append(extraEnv, wire.EnvSecret+"="+secret.Env())
	}
	pr, err := startProc(side, kind, o, extraEnv...)
	if err != nil {
		return nil, err
	}
	var conn net.Conn
	conn, err = net.Dial("tcp", pr.addr)
	if err == nil {
		conn, err = hostPreamble(sp.preamble, conn, secret, time.Now().Add(o.startTimeout()))
	}
	if err != nil {
		pr.kill()
		return nil, fmt.Errorf("bench: %s: %w", side, err)
	}
	var rwc io.ReadWriteCloser = conn
	if sp.wrap != nil {
		rwc = sp.wrap(conn)
	}
	rc, err := plugin.NewRPCClient(rwc, hostPlugins())
	if err != nil {
		pr.kill()
		return nil, fmt.Errorf("bench: %s: %w", side, err)
	}
	_ = rc.SyncStreams(io.Discard, io.Discard)
	p := &Plugin{Side: side, Exited: pr.exited, kill: func() {
		_ = rc.Close()
		pr.wait()
	}}
	raw, err := rc.Dispense(string(kind))
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("bench: %s: dispensing %s: %w", side, kind, err)
	}
	if err := p.set(kind, raw); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// proc is a helper process of the floor and 2013 sides, which print their
// address on stdout like a plugwire plugin but do nothing else of plugwire.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	stderr *tailWriter
}

func startProc(side Side, kind Kind, o Options, env ...string) (*proc, error) {
	cmd, err := helperCmd(side, kind, o, true)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, env...)
	lines := make(chan string, 1)
	pr := &proc{cmd: cmd, exited: make(chan struct{}), stderr: &tailWriter{}}
	cmd.Stdout = &firstLine{ch: lines}
	cmd.Stderr = pr.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", side, err)
	}
	go func() {
		_ = cmd.Wait()
		close(pr.exited)
	}()
	t := time.NewTimer(o.startTimeout())
	defer t.Stop()
	select {
	case pr.addr = <-lines:
		return pr, nil
	case <-pr.exited:
		return nil, fmt.Errorf("bench: %s plugin exited before its address: %s; stderr: %s", side, cmd.ProcessState, pr.stderr)
	case <-t.C:
		pr.kill()
		return nil, fmt.Errorf("bench: %s plugin printed no address in %v", side, o.startTimeout())
	}
}

// wait waits for the process to exit on its own, killing it after 5 s.
func (p *proc) wait() {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.kill()
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// firstLine sends the first line written to it on ch and drops the rest.
type firstLine struct {
	buf  []byte
	done bool
	ch   chan<- string
}

func (w *firstLine) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
		w.done = true
		w.ch <- strings.TrimSpace(string(w.buf[:i]))
		w.buf = nil
	}
	return len(p), nil
}

// tailWriter keeps the last 2 KiB written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2048 {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-2048:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strconv.Quote(string(w.buf))
}

// HelperProfileEnv, when set to a directory, makes every plugin process
// write its CPU profile there as SIDE-KIND-PID.prof.
const HelperProfileEnv = "PLUGWIRE_BENCH_PLUGIN_CPUPROFILE"

func profileTo(dir, helper string) (stop func(), err error) {
	name := strings.NewReplacer("|", "-", "+", "_").Replace(helper)
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.prof", name, os.Getpid())))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// RunHelperIfRequested turns this process into a benchmark plugin when it
// was started as one (helperEnv is set), and exits when the plugin is done;
// otherwise it returns at once. Call it first in TestMain or main.
func RunHelperIfRequested() {
	if _, ok := os.LookupEnv(helperEnv); !ok {
		return
	}
	runHelperProcess()
	os.Exit(0)
}

func runHelperProcess() {
	v := os.Getenv(helperEnv)
	_ = os.Unsetenv(helperEnv)
	if dir, ok := os.LookupEnv(HelperProfileEnv); ok {
		stop, err := profileTo(dir, v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench helper %s: %v\n", v, err)
			os.Exit(1)
		}
		defer stop()
	}
	if err := runHelper(v); err != nil {
		fmt.Fprintf(os.Stderr, "bench helper %s: %v\n", v, err)
		os.Exit(1)
	}
}

func runHelper(v string) error {
	sideS, kindS, _ := strings.Cut(v, "|")
	sp, err := parseSide(Side(sideS))
	if err != nil {
		return err
	}
	kind := Kind(kindS)
	if sp.gmp1 {
		runtime.GOMAXPROCS(1)
	}
	switch {
	case kind == KindStream && sp.base == Plugwire:
		serveStream()
		return nil
	case kind == KindGRPCStream:
		serveGRPCStream()
		return nil
	}
	plugins := map[string]plugin.Plugin{}
	switch kind {
	case KindBuilder:
		plugins[string(kind)] = &shared.BuilderPlugin{Impl: &Builder{}}
	case KindCommand:
		plugins[string(kind)] = &shared.CommandPlugin{Impl: Command{}}
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	switch sp.base {
	case Plugwire:
		if kind == KindBuilder {
			builderplugin.Serve(&Builder{})
		} else {
			commandplugin.Serve(Command{})
		}
		return nil
	case Stock:
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: handshake, Plugins: plugins})
		return nil
	case Floor:
		return serveFloor(plugins, sp)
	default:
		return serve2013()
	}
}

// listenAnnounce listens on the first free port of the range in the
// environment and prints the address, as a plugwire plugin does, but with
// net.Listen as an unmodified stack would (see naiveListen).
func listenAnnounce() (net.Listener, error) {
	minPort, maxPort, err := wire.PortRange(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	ln, err := naiveListen(minPort, maxPort)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", ln.Addr()); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// naiveListen listens on 127.0.0.1 on the first free port of the range
// with net.Listen, as the 2013 design did and as a plain stack does. It
// is not wire.Listen, which is plugwire's own code: that one turns off the
// Multipath TCP listener Go opens by default since Go 1.24.
func naiveListen(minPort, maxPort int) (net.Listener, error) {
	var lastErr error
	for p := minPort; p <= maxPort; p++ {
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("bench: no free port in %d-%d: %w", minPort, maxPort, lastErr)
}

func acceptOne() (net.Conn, error) {
	ln, err := listenAnnounce()
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	return ln.Accept()
}

// serveFloor serves plugins with go-plugin's RPCServer on the one accepted
// connection, after the preamble and wrapped as sp says.
func serveFloor(plugins map[string]plugin.Plugin, sp spec) error {
	var conn net.Conn
	var err error
	if sp.preamble == noPreamble {
		conn, err = acceptOne()
	} else {
		conn, err = acceptProven()
	}
	if err != nil {
		return err
	}
	var rwc io.ReadWriteCloser = conn
	if sp.wrap != nil {
		rwc = sp.wrap(conn)
	}
	quit := make(chan struct{})
	served := make(chan struct{})
	srv := &plugin.RPCServer{
		Plugins: plugins,
		Stdout:  strings.NewReader(""),
		Stderr:  strings.NewReader(""),
		DoneCh:  quit,
	}
	go func() {
		srv.ServeConn(rwc)
		close(served)
	}()
	select {
	case <-served:
	case <-quit:
	}
	return nil
}
