package plugwire_test

// Debug mode and reattach, with real processes: the test binary runs as
// the "set" test plugin with PLUGWIRE_DEBUG=1, as a person would run a
// plugin by hand or under dlv exec, and hosts reattach to it.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// debugPlugin is a plugin process in debug mode.
type debugPlugin struct {
	cmd    *exec.Cmd
	line   string // the PLUGWIRE_REATTACH=... line it printed
	value  string // the variable's value
	entry  host.Reattach
	exited chan struct{} // closed once it has exited
	err    error         // how it exited; set before exited is closed

	mu     sync.Mutex
	stderr []string
}

// startDebugPlugin runs the "set" test plugin in debug mode, with no other
// plugwire variable set, and reads the line it prints. It is interrupted
// at cleanup, as Ctrl-C would.
func startDebugPlugin(t *testing.T) *debugPlugin {
	t.Helper()
	return startDebugPluginOf(t, "set")
}

// startDebugPluginOf is startDebugPlugin for the test plugin name.
func startDebugPluginOf(t *testing.T, name string) *debugPlugin {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(bareEnv(name), wire.EnvDebug+"=1")
	ownProcessGroup(cmd)
	r, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &debugPlugin{cmd: cmd, exited: make(chan struct{})}
	lines := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, sc.Text())
			p.mu.Unlock()
			if strings.HasPrefix(sc.Text(), wire.EnvReattach+"=") {
				lines <- sc.Text()
			}
		}
	}()
	go func() {
		<-scanned
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = interrupt(cmd.Process)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
			t.Errorf("debug plugin still running 10 s after SIGINT; stderr: %q", p.lines())
		}
	})
	select {
	case p.line = <-lines:
	case <-p.exited:
		t.Fatalf("debug plugin exited (%v) before printing %s; stderr: %q", p.err, wire.EnvReattach, p.lines())
	case <-time.After(30 * time.Second):
		t.Fatalf("debug plugin printed no %s line in 30 s; stderr: %q", wire.EnvReattach, p.lines())
	}
	p.value = strings.TrimSuffix(strings.TrimPrefix(p.line, wire.EnvReattach+"='"), "'")
	entries, err := wire.ParseReattach(p.value)
	if err != nil {
		t.Fatalf("the printed line %q does not parse: %v", p.line, err)
	}
	e, ok := entries[exeName]
	if !ok || len(entries) != 1 {
		t.Fatalf("the printed line %q has no single entry for %q", p.line, exeName)
	}
	p.entry = host.Reattach(e)
	return p
}

// exeName is this test binary's name as debug mode and reattach use it:
// without .exe on Windows.
var exeName = strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")

// interrupt does what Ctrl-C does to a plugin run by hand. On Windows,
// where a process cannot be sent Ctrl-C without sharing a console with it,
// it kills the process instead.
func interrupt(p *os.Process) error {
	if runtime.GOOS == "windows" {
		return p.Kill()
	}
	return p.Signal(os.Interrupt)
}

func (p *debugPlugin) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stderr...)
}

func (p *debugPlugin) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// reattachClient is a host client for the debug plugin through
// Config.Reattach, killed at cleanup.
func reattachClient(t *testing.T, p *debugPlugin) *host.Client {
	c := host.NewClient(&host.Config{
		Reattach: &p.entry,
		Plugins:  setPlugins(),
		Logger:   hclog.New(&hclog.LoggerOptions{Name: "e2e", Level: hclog.Warn, Output: testWriter{t}}),
	})
	t.Cleanup(c.Kill)
	return c
}

// builderSays runs builder/a of the set, which says its process id.
func builderSays(t *testing.T, c *host.Client) string {
	t.Helper()
	raw, err := c.Dispense("builder/a")
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	ui := &recUi{}
	if err := raw.(shared.Builder).Run(context.Background(), nil, ui); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return strings.Join(ui.lines_(), "\n")
}

// A plugin in debug mode prints the line to paste, serves one host after
// another (found through PLUGWIRE_REATTACH by the base name of
// Config.Cmd), outlives each host's Kill, and ends on Ctrl-C.
func TestDebugModeServesHostsInTurn(t *testing.T) {
	p := startDebugPlugin(t)
	pid := p.cmd.Process.Pid
	re := regexp.MustCompile(fmt.Sprintf(`^PLUGWIRE_REATTACH='\{"%s":\{"addr":"127\.0\.0\.1:\d+","secret":"[0-9a-f]{64}","pid":%d\}\}'$`,
		regexp.QuoteMeta(exeName), pid))
	if !re.MatchString(p.line) {
		t.Fatalf("printed %q, want a line matching %s", p.line, re)
	}
	t.Setenv(host.EnvReattach, p.value)
	want := fmt.Sprintf("say: builder a in pid %d", pid)

	for i := 1; i <= 2; i++ {
		// The host would start this binary, but reattaches instead.
		cmd := exec.Command(os.Args[0])
		r, err := host.LookupReattach(cmd)
		if err != nil || r == nil || *r != p.entry {
			t.Fatalf("LookupReattach: %v, %v; want %+v", r, err, p.entry)
		}
		c := host.NewClient(&host.Config{Cmd: cmd, Reattach: r, Plugins: setPlugins()})
		if got := builderSays(t, c); got != want {
			t.Fatalf("host %d: builder said %q, want %q", i, got, want)
		}
		raw, err := c.Dispense("command/c")
		if err != nil {
			t.Fatalf("host %d: Dispense: %v", i, err)
		}
		if s := raw.(shared.Command).Synopsis(); s != fmt.Sprintf("command c in pid %d", pid) {
			t.Fatalf("host %d: Synopsis %q", i, s)
		}
		c.Kill()
		if !c.Exited() {
			t.Fatalf("host %d: Exited() is false after Kill", i)
		}
		if _, err := c.Dispense("builder/a"); !errors.Is(err, host.ErrProcessExited) {
			t.Fatalf("host %d: Dispense after Kill: %v, want ErrProcessExited", i, err)
		}
		if !p.running() {
			t.Fatalf("host %d: Kill ended the debug plugin: %v; stderr %q", i, p.err, p.lines())
		}
	}

	// Ctrl-C ends the plugin, and the connected host sees the end.
	c := reattachClient(t, p)
	if got := builderSays(t, c); got != want {
		t.Fatalf("third host: %q", got)
	}
	if err := interrupt(p.cmd.Process); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("debug plugin still running 10 s after SIGINT; stderr %q", p.lines())
	}
	if p.err != nil && runtime.GOOS != "windows" {
		t.Fatalf("debug plugin exited with %v after SIGINT, want status 0; stderr %q", p.err, p.lines())
	}
	raw, err := c.Dispense("builder/a")
	if err == nil {
		err = raw.(shared.Builder).Run(context.Background(), nil, &recUi{})
	}
	if !errors.Is(err, host.ErrProcessExited) || !strings.Contains(err.Error(), "reattached in debug mode") {
		t.Fatalf("call after the plugin ended: %v, want ErrProcessExited naming the reattached plugin", err)
	}
	if !c.Exited() {
		t.Fatal("Exited() is false once the connection ended")
	}
	out := strings.Join(p.lines(), "\n")
	ends := []string{"host 1 connected", "host 2 disconnected", "host 3 connected", "interrupted: debug mode ended"}
	if runtime.GOOS == "windows" {
		ends = ends[:3] // killed, not interrupted: see interrupt
	}
	for _, s := range ends {
		if !strings.Contains(out, s) {
			t.Errorf("stderr does not say %q:\n%s", s, out)
		}
	}
}

// What a reattach can get wrong is told apart, and does not disturb the
// plugin, which serves the right host after it.
func TestReattachErrors(t *testing.T) {
	t.Parallel()
	p := startDebugPlugin(t)

	wrong := p.entry
	wrong.Secret = strings.Repeat("ab", wire.SecretSize)
	bad := host.NewClient(&host.Config{Reattach: &wrong, Plugins: setPlugins()})
	defer bad.Kill()
	if _, err := bad.Dispense("builder/a"); !errors.Is(err, host.ErrHandshake) || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("wrong secret: %v, want ErrHandshake saying why", err)
	}

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := p.entry
	gone.Addr = ln.Addr().String()
	ln.Close()
	stale := host.NewClient(&host.Config{Reattach: &gone})
	defer stale.Kill()
	if err := stale.Start(context.Background()); !errors.Is(err, host.ErrProcessExited) || !strings.Contains(err.Error(), host.EnvReattach) {
		t.Fatalf("nothing at the address: %v, want ErrProcessExited naming %s", err, host.EnvReattach)
	}

	notLoopback := p.entry
	notLoopback.Addr = "192.0.2.1:1234"
	remote := host.NewClient(&host.Config{Reattach: &notLoopback})
	defer remote.Kill()
	if err := remote.Start(context.Background()); err == nil || !strings.Contains(err.Error(), `"192.0.2.1:1234" is not a loopback address`) {
		t.Fatalf("non-loopback address: %v", err)
	}

	c := reattachClient(t, p)
	if got, want := builderSays(t, c), fmt.Sprintf("say: builder a in pid %d", p.cmd.Process.Pid); got != want {
		t.Fatalf("after the failed reattaches: %q, want %q", got, want)
	}
}

// A host reattaches only when it asks (LookupReattach): with
// PLUGWIRE_REATTACH set, malformed or naming this very binary, a Client
// starts its own plugin and says so in one warning naming the entries and
// its own name; and the plugin it starts sees neither PLUGWIRE_REATTACH
// nor PLUGWIRE_DEBUG, nor a plugwire variable the host did not set for it.
func TestReattachOnlyWhenAsked(t *testing.T) {
	entry := `{"addr":"127.0.0.1:1","secret":"` + strings.Repeat("00", wire.SecretSize) + `","pid":1}`
	for _, tt := range []struct{ name, value, says string }{
		{"malformed", `{"plugwire.test": {"addr": "127.0.0.1:1"`, "does not parse"},
		{"other", `{"some-other-plugin":` + entry + `}`, "its entries name other binaries"},
		{"this", `{"` + exeName + `":` + entry + `,"zz":` + entry + `}`, "this host does not reattach"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(host.EnvReattach, tt.value)
			t.Setenv(wire.EnvDebug, "1")
			logs := &syncBuffer{}
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(pluginEnv("command"), "PLUGWIRE_STALE=1", wire.EnvSecret+"="+strings.Repeat("11", wire.SecretSize), wire.EnvMinPort+"=1")
			c := host.NewClient(&host.Config{
				Cmd:    cmd,
				Logger: hclog.New(&hclog.LoggerOptions{Name: "e2e", Level: hclog.Warn, Output: logs}),
			})
			t.Cleanup(c.Kill)
			cmdp, err := c.Command()
			if err != nil {
				t.Fatalf("a start with %s=%s in the host's environment: %v", host.EnvReattach, tt.value, err)
			}
			for _, v := range []struct{ name, want string }{
				{host.EnvReattach, `PLUGWIRE_REATTACH="" set=false`},
				{wire.EnvDebug, `PLUGWIRE_DEBUG="" set=false`},
				{"PLUGWIRE_STALE", `PLUGWIRE_STALE="1" set=true`}, // the host's Cmd.Env set it
				{wire.EnvSecret, `PLUGWIRE_SECRET="" set=false`},  // the plugin unset the host's
				{wire.EnvMinPort, `PACKER_PLUGIN_MIN_PORT="10000" set=true`},
			} {
				ui := &recUi{}
				if code := cmdp.Run(context.Background(), &env{t: t, ui: ui}, []string{"env", v.name}); code != 0 {
					t.Fatalf("env %s: exit code %d", v.name, code)
				}
				if got := strings.Join(ui.lines_(), "\n"); got != "say: "+v.want {
					t.Errorf("the plugin sees %q, want %q", got, v.want)
				}
			}
			warns := strings.Count(logs.String(), "[WARN]")
			if warns != 1 || !strings.Contains(logs.String(), tt.says) || !strings.Contains(logs.String(), "name="+exeName) {
				t.Errorf("log %q: want one warning saying %q and naming %s", logs.String(), tt.says, exeName)
			}
			if tt.name == "this" && !strings.Contains(logs.String(), exeName+",zz") {
				t.Errorf("log %q does not name the entries", logs.String())
			}
			if tt.name != "malformed" {
				return
			}
			if _, err := host.LookupReattach(cmd); !errors.Is(err, host.ErrBadReattach) || !strings.Contains(err.Error(), host.EnvReattach+" is not JSON") {
				t.Errorf("LookupReattach of a malformed value: %v, want ErrBadReattach naming %s", err, host.EnvReattach)
			}
		})
	}
}

// A host that connects while another is being served is told at once that
// the plugin serves one host at a time (a Packer-like host running two
// builds with the same debugged builder), instead of waiting until its
// start times out; the next host after them is served.
func TestDebugModeBusy(t *testing.T) {
	t.Parallel()
	p := startDebugPlugin(t)
	want := fmt.Sprintf("say: builder a in pid %d", p.cmd.Process.Pid)
	first := reattachClient(t, p)
	if got := builderSays(t, first); got != want {
		t.Fatalf("first host: %q", got)
	}
	second := reattachClient(t, p)
	t0 := time.Now()
	_, err := second.Dispense("builder/a")
	if err == nil || !strings.Contains(err.Error(), "serving another Client: it serves one host.Client at a time") {
		t.Fatalf("second host's Dispense: %v, want the plugin's busy message", err)
	}
	t.Logf("told busy after %v", time.Since(t0))
	second.Kill()
	if got := builderSays(t, first); got != want {
		t.Fatalf("first host after the second: %q", got)
	}
	first.Kill()
	if got := builderSays(t, reattachClient(t, p)); got != want {
		t.Fatalf("third host: %q", got)
	}
}

// syncBuffer is a log's output, safe to read while the log is written.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Debug mode cannot be jammed: with many local connections open and silent
// (more than a plugin holds), and more arriving all the time, a host that
// proves the secret is served, not told that the plugin is busy; the
// plugin holds a bounded number of them.
func TestDebugModeNotJammed(t *testing.T) {
	t.Parallel()
	p := startDebugPlugin(t)
	var (
		mu     sync.Mutex
		silent []net.Conn
	)
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	dial := func() {
		c, err := net.Dial("tcp", p.entry.Addr)
		if err != nil {
			t.Errorf("a silent connection: %v", err)
			return
		}
		mu.Lock()
		silent = append(silent, c)
		mu.Unlock()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(silent)
	}
	for range 3 * wire.MaxUnproven {
		dial()
	}
	// One more every few milliseconds while the host starts, as a
	// process trying to keep the plugin's turn busy would.
	stop := make(chan struct{})
	jammed := make(chan struct{})
	go func() {
		defer close(jammed)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				dial()
			}
		}
	}()
	for i := 1; i <= 2; i++ {
		c := reattachClient(t, p)
		t0 := time.Now()
		if got, want := builderSays(t, c), fmt.Sprintf("say: builder a in pid %d", p.cmd.Process.Pid); got != want {
			t.Fatalf("host %d among silent connections: %q, want %q", i, got, want)
		}
		t.Logf("host %d served %v after it started, among %d silent connections", i, time.Since(t0), count())
		c.Kill()
	}
	close(stop)
	<-jammed
	if n, ok := openDescriptors(p.cmd.Process.Pid); ok && n > 2*wire.MaxUnproven+32 {
		t.Errorf("the debug plugin holds %d descriptors with %d connections open to it", n, count())
	}
}
