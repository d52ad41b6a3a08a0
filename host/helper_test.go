package host_test

// The plugins of these tests are the test binary itself, re-executed with
// PLUGWIRE_TEST_HELPER naming what it should do: serve a Builder and a
// Command through plugwire.Serve (whose methods misbehave on request), or
// misbehave before Serve, or act as a host that the test then SIGKILLs.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// Environment variables read by the helper process.
const (
	envHelper    = "PLUGWIRE_TEST_HELPER"    // the behaviour; unset in a normal test run
	envStubborn  = "PLUGWIRE_TEST_STUBBORN"  // "1": ignore SIGTERM and do not exit after Serve
	envSynopsis  = "PLUGWIRE_TEST_SYNOPSIS"  // Command.Synopsis action
	envLine      = "PLUGWIRE_TEST_LINE"      // what "line" prints on stdout, Go-quoted
	envDelay     = "PLUGWIRE_TEST_DELAY"     // how long "slow" sleeps before Serve
	envMoment    = "PLUGWIRE_TEST_MOMENT"    // when the "host" behaviour waits to be killed
	envFloodSize = "PLUGWIRE_TEST_FLOODSIZE" // bytes "flood" writes to each stream
	// envNoLifeline, "1", makes a serving helper drop its lifeline before
	// Serve: it has only its connection to tell that the host is gone.
	envNoLifeline = "PLUGWIRE_TEST_NOLIFELINE"
	envMarker     = "PLUGWIRE_TEST_MARKER" // the file the "cleanup" moment's teardown writes
	// envPluginGrace overrides the grace period the host passed.
	envPluginGrace = "PLUGWIRE_TEST_PLUGIN_GRACE"
)

// helperPidMsg is the message of the hclog JSON entry every helper logs on
// stderr first, with its pid and the PLUGWIRE_CONNECT_TIMEOUT it was given
// ("connect_timeout", "unset" when none), so that a test learns them
// through the host's Logger.
const helperPidMsg = "plugwire test helper"

// testExe is the test binary, re-executed as the helper; testExeName is
// its name as the host shows it (without .exe on Windows).
var testExe, testExeName string

func TestMain(m *testing.M) {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "finding the test binary:", err)
		os.Exit(2)
	}
	testExe = exe
	testExeName = strings.TrimSuffix(filepath.Base(exe), ".exe")
	if b := os.Getenv(envHelper); b != "" {
		os.Exit(runHelper(b))
	}
	testutil.RefuseArguments()
	code := m.Run()
	if _, bad := host.GroupSignals(); len(bad) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "signals sent to reaped plugins' process groups during the run:\n%s\n", strings.Join(bad, "\n"))
		code = 1
	}
	removeExamples()
	os.Exit(code)
}

// helperEnv is the environment of a helper: the test's own, without any
// plugwire or helper variable, plus behaviour and extra.
func helperEnv(behaviour string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PLUGWIRE_") || strings.HasPrefix(kv, "PACKER_PLUGIN_") || strings.HasPrefix(kv, "GORACE=") {
			continue
		}
		env = append(env, kv)
	}
	// A binary built with -race sleeps a second on exit, waiting for
	// racing goroutines to report; a plugin must not.
	env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	env = append(env, envHelper+"="+behaviour)
	return append(env, extra...)
}

// helperCmd is an exec.Cmd that runs the helper as a plugin.
func helperCmd(behaviour string, extra ...string) *exec.Cmd {
	cmd := exec.Command(testExe)
	cmd.Env = helperEnv(behaviour, extra...)
	return cmd
}

// helperLogger is the hclog JSON logger a helper writes its own entries
// with, on stderr, as a real plugin would.
func helperLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "helper",
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      hclog.Trace,
	})
}

func runHelper(behaviour string) int {
	// No helper may outlive a test run that forgot it.
	time.AfterFunc(90*time.Second, func() { os.Exit(9) })
	switch behaviour {
	case "bare", "true", "echo", "sleep": // not plugins, or run by hand
	default:
		timeout, ok := os.LookupEnv(wire.EnvConnectTimeout)
		if !ok {
			timeout = "unset"
		}
		helperLogger().Info(helperPidMsg, "pid", os.Getpid(), "behaviour", behaviour, "connect_timeout", timeout)
	}
	switch behaviour {
	case "serve", "bare":
		return serveHelper()
	case "slow":
		d, _ := time.ParseDuration(os.Getenv(envDelay))
		time.Sleep(d)
		return serveHelper()
	case "spawn":
		// A grandchild inherits stdout and stderr and holds them open
		// after the plugin is gone.
		gc := exec.Command(testExe)
		gc.Env = helperEnv("grandchild")
		gc.Stdout, gc.Stderr = os.Stdout, os.Stderr
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "helper: starting grandchild:", err)
			return 1
		}
		helperLogger().Info("grandchild started", "grandchild", gc.Process.Pid)
		return serveHelper()
	case "spawn-sleep":
		// As a VM tool would: a `sleep 300` sharing the plugin's stdout,
		// whose pid goes to the marker file.
		gc := exec.Command("sleep", "300")
		gc.Stdout = os.Stdout
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "helper: starting sleep:", err)
			return 1
		}
		if err := os.WriteFile(os.Getenv(envMarker), []byte(strconv.Itoa(gc.Process.Pid)), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		return serveHelper()
	case "grandchild":
		time.Sleep(30 * time.Second)
		return 0
	case "exit-before-address":
		fmt.Fprintln(os.Stderr, "helper: cannot start: the widget is missing")
		fmt.Fprintln(os.Stderr, "helper: giving up before the address line")
		return 3
	case "address-then-exit":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 1
		}
		fmt.Println(ln.Addr())
		fmt.Fprintln(os.Stderr, "helper: printed the address, leaving before the host connects")
		return 3
	case "silent", "sleep":
		time.Sleep(time.Hour)
		return 0
	case "true":
		return 0
	case "echo":
		line, err := strconv.Unquote(os.Getenv(envLine))
		if err != nil {
			return 2
		}
		fmt.Print(line)
		return 0
	case "line":
		line, err := strconv.Unquote(os.Getenv(envLine))
		if err != nil {
			return 2
		}
		fmt.Print(line)
		time.Sleep(time.Hour)
		return 0
	case "set":
		return setHelper()
	case "host":
		return hostHelper()
	case "goaway":
		return goAwayHelper()
	}
	if f, ok := moreHelpers[behaviour]; ok {
		return f()
	}
	fmt.Fprintf(os.Stderr, "helper: unknown behaviour %q\n", behaviour)
	return 2
}

// moreHelpers are behaviours that test files add in their init, beside
// the ones above.
var moreHelpers = map[string]func() int{}

func serveHelper() int {
	if os.Getenv(envNoLifeline) == "1" {
		_ = os.Unsetenv(wire.EnvLifeline)
	}
	if g, ok := os.LookupEnv(envPluginGrace); ok {
		_ = os.Setenv(wire.EnvKillGrace, g) // shorter than the host's
	}
	stubborn := os.Getenv(envStubborn) == "1"
	if stubborn {
		signal.Ignore(syscall.SIGTERM)
	}
	plugwire.Serve(map[string]plugin.Plugin{
		shared.BuilderPluginName: &shared.BuilderPlugin{Impl: &testBuilder{}},
		shared.CommandPluginName: &shared.CommandPlugin{Impl: testCommand{}},
	})
	if stubborn {
		time.Sleep(time.Hour)
	}
	return 0
}

// lastWords is what a helper writes on stderr before it exits with status
// 3 in method; tests look for it in the error's stderr tail.
func lastWords(method string) {
	fmt.Fprintf(os.Stderr, "helper: something went badly wrong\n")
	fmt.Fprintf(os.Stderr, "helper: exiting with status 3 in %s\n", method)
	os.Exit(3)
}

// act performs the actions shared by every method.
func act(method, action string) error {
	switch action {
	case "", "ok":
		return nil
	case "fail":
		return fmt.Errorf("%s failed on purpose", method)
	case "exit":
		lastWords(method)
	case "panic":
		panic("helper panic in " + method)
	case "panic-goroutine":
		// The method never returns: the panic ends the process. (A
		// deferred close would let it return, and its reply could reach
		// the host before the process dies.)
		go panic("helper panic in a goroutine of " + method)
		select {}
	case "panic-deep":
		// A panic under a stack far longer than the stderr tail.
		go deepPanic(40, "helper panic deep in "+method)
		select {}
	case "exit-later":
		go func() {
			time.Sleep(100 * time.Millisecond)
			lastWords(method + " (later, while idle)")
		}()
		return nil
	case "ignorectx":
		time.Sleep(time.Hour)
		return nil
	}
	if err, ok := remoteErrors[action]; ok {
		return err
	}
	return fmt.Errorf("helper: unknown action %q in %s", action, method)
}

// deepPanic panics with msg under depth more frames.
func deepPanic(depth int, msg string) {
	if depth == 0 {
		panic(msg)
	}
	deepPanic(depth-1, msg)
}

// testBuilder's Prepare keeps its config, a map of method to action.
type testBuilder struct {
	mu  sync.Mutex
	cfg map[string]any
}

func (b *testBuilder) action(method string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, _ := b.cfg[method].(string)
	return s
}

func (b *testBuilder) Prepare(config any) error {
	m, _ := config.(map[string]any)
	b.mu.Lock()
	b.cfg = m
	b.mu.Unlock()
	switch b.action("prepare") {
	case "say-late":
		// Use the Ui of a Run that has returned.
		lateUi.Say("said too late")
		return nil
	case "exit-after-replies":
		n, _ := m["n"].(float64)
		defer exitAfterReplies(int64(n))
		return nil
	}
	return act("Builder.Prepare", b.action("prepare"))
}

func (b *testBuilder) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	const method = "Builder.Run"
	switch a := b.action("run"); a {
	case "say":
		ui.Say("run says hello")
		return nil
	case "stdin":
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		ui.Say("stdin: %q", in)
		return nil
	case "block":
		ui.Say("blocking until cancelled")
		<-ctx.Done()
		return ctx.Err()
	case "ignorectx":
		ui.Say("ignoring ctx")
		time.Sleep(time.Hour)
		return nil
	case "exit-in-host-callback":
		// Die while the host is busy in a callback this method made: the
		// host's callback writes a byte on the plugin's stdin once it is
		// entered.
		go ui.Say("write on my stdin and the plugin dies while you are in this callback")
		_, _ = os.Stdin.Read(make([]byte, 1))
		lastWords(method)
		return nil
	case "exit-in-own-callback":
		// Die inside a callback the host makes into this plugin while it
		// serves this method's Build.Run callback.
		return build.Run(ctx, dyingUi{})
	case "flood":
		return flood()
	case "flood-exit":
		// Exit as soon as the output is written, most of it still in
		// the pipes.
		_ = flood()
		os.Exit(0)
		return nil
	case "cleanup":
		// A builder that owns a VM: it tears it down once ctx is done.
		ui.Say("running until cancelled")
		<-ctx.Done()
		teardown(b.action("marker"), ctx.Err())
		return ctx.Err()
	case "spawn-sleep":
		return spawnSleep(ui)
	case "deadline-callback":
		// Call the host's Build back with a deadline of the plugin's own.
		d := time.Now().Add(300 * time.Millisecond)
		cctx, cancel := context.WithDeadline(ctx, d)
		defer cancel()
		ui.Say("%s", d.Format(time.RFC3339Nano))
		return fmt.Errorf("the host's Build.Run: %w", build.Run(cctx, nil))
	case "keep-ui":
		lateUi = ui
		return nil
	case "deadline":
		// Say the deadline ctx has, then wait for it and report what
		// ended ctx (wrapped, as a builder's SSH dial would).
		d, ok := ctx.Deadline()
		if !ok {
			return errors.New("ctx has no deadline")
		}
		ui.Say("%s", d.Format(time.RFC3339Nano))
		<-ctx.Done()
		return fmt.Errorf("waiting for SSH: %w", ctx.Err())
	case "log":
		l := helperLogger()
		l.Trace("trace entry", "k", "trace")
		l.Debug("debug entry", "k", "debug")
		l.Info("info entry", "k", "info", "n", 42)
		l.Warn("warn entry", "k", "warn", "nested", map[string]any{"a": []int{1, 2}})
		l.Error("error entry", "k", "error", "err", errors.New("it broke"))
		fmt.Fprintln(os.Stderr, "[WARN] a plain warning")
		log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds).Print("[WARN] a standard log warning")
		fmt.Fprintln(os.Stderr, "a plain line")
		// yamux's default logger, as go-plugin leaves it, on races it
		// recovers from.
		log.New(os.Stderr, "", log.LstdFlags).Print("[WARN] yamux: Discarding data for stream: 9")
		log.New(os.Stderr, "", log.LstdFlags).Print("[ERR] yamux: aborted stream open without inflight syn semaphore")
		l.Error("an entry with a stack", "stack", "goroutine 1 [running]:\nmain.f()\n\t/src/f.go:12 +0x1d")
		hclog.New(&hclog.LoggerOptions{Name: "acme-vm", Output: os.Stderr}).Info("an hclog text line")
		fmt.Fprintln(os.Stderr, "[ERROR] the last line")
		fmt.Fprintln(os.Stdout, "stdout after the address")
		ui.Say("logged")
		return nil
	default:
		return act(method, a)
	}
}

// dyingUi is the plugin's Ui that exits when the host calls it.
type dyingUi struct{}

func (dyingUi) Say(string, ...any)   { lastWords("Ui.Say callback") }
func (dyingUi) Error(string, ...any) { lastWords("Ui.Error callback") }

// flood writes PLUGWIRE_TEST_FLOODSIZE bytes of lines to stdout and to
// stderr, then a last line on each.
func flood() error {
	var size int
	_, _ = fmt.Sscan(os.Getenv(envFloodSize), &size)
	line := "[INFO] flood " + strings.Repeat("x", 114) + "\n" // 128 bytes
	chunk := []byte(strings.Repeat(line, 64))
	for n := 0; n < size; n += len(chunk) {
		if _, err := os.Stdout.Write(chunk); err != nil {
			return err
		}
		if _, err := os.Stderr.Write(chunk); err != nil {
			return err
		}
	}
	fmt.Fprintln(os.Stdout, "[INFO] flood done")
	fmt.Fprintln(os.Stderr, "[INFO] flood done")
	return nil
}

// testCommand's Run does what args[0] says; Synopsis what
// PLUGWIRE_TEST_SYNOPSIS says.
type testCommand struct{}

func (testCommand) Run(ctx context.Context, env shared.Environment, args []string) int {
	const method = "Command.Run"
	a := ""
	if len(args) > 0 {
		a = args[0]
	}
	switch a {
	case "ok":
		env.Ui().Say("command ran")
		return 0
	case "block":
		<-ctx.Done()
		return 7
	}
	if err := act(method, a); err != nil {
		return 2
	}
	return 0
}

func (testCommand) Synopsis() string {
	_ = act("Command.Synopsis", os.Getenv(envSynopsis))
	return "a test command"
}

// hostHelper is a host that starts a plugin, logs the plugin's pid (the
// plugin's own entry, forwarded) as hclog JSON on stdout, reaches the
// moment PLUGWIRE_TEST_MOMENT names, says so, and waits to be SIGKILLed.
func hostHelper() int {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "hosthelper",
		Output:     os.Stdout,
		JSONFormat: true,
		Level:      hclog.Trace,
	})
	moment := os.Getenv(envMoment)
	behaviour := "serve"
	var extra []string
	if strings.HasPrefix(moment, "starting") {
		behaviour = "slow"
		extra = append(extra, envDelay+"=300ms")
	}
	cfg := &host.Config{Logger: logger, StartTimeout: 30 * time.Second, KillGrace: hostHelperGrace}
	switch {
	case moment == "idle-spawn":
		// The plugin starts a `sleep 300` and writes its pid to the marker.
		behaviour = "spawn-sleep"
		extra = append(extra, envMarker+"="+os.Getenv(envMarker))
	case strings.HasSuffix(moment, "nolifeline"):
		extra = append(extra, envNoLifeline+"=1")
	case strings.HasSuffix(moment, "stdin"):
		// The host passes its own stdin, which the test holds open: the
		// plugin's stdin outlives the host, its lifeline does not.
		cfg.Stdin = os.Stdin
	}
	cfg.Cmd = helperCmd(behaviour, extra...)
	c := host.NewClient(cfg)
	b, err := c.Builder()
	if err != nil {
		logger.Error("hosthelper: start failed", "error", err)
		return 1
	}
	switch moment {
	case "idle", "idle-nolifeline", "idle-stdin", "idle-spawn":
		logger.Info("hosthelper: at " + moment)
	case "idle-many", "idle-many-nolifeline":
		// Every dispensed object holds a stream the plugin must not
		// spend its last seconds on.
		for range manyDispensed {
			if _, err := c.Builder(); err != nil {
				logger.Error("hosthelper: dispense failed", "error", err)
				return 1
			}
		}
		logger.Info("hosthelper: at " + moment)
	case "cleanup", "cleanup-nolifeline":
		if err := b.Prepare(map[string]any{"run": "cleanup", "marker": os.Getenv(envMarker)}); err != nil {
			logger.Error("hosthelper: prepare failed", "error", err)
			return 1
		}
		_ = b.Run(context.Background(), nil, uiFunc(func(s string) {
			logger.Info("hosthelper: at "+moment, "said", s)
		}))
	case "midcall":
		if err := b.Prepare(map[string]any{"run": "ignorectx"}); err != nil {
			logger.Error("hosthelper: prepare failed", "error", err)
			return 1
		}
		_ = b.Run(context.Background(), nil, uiFunc(func(s string) {
			logger.Info("hosthelper: at "+moment, "said", s)
		}))
	}
	time.Sleep(time.Hour)
	return 0
}

// uiFunc is a shared.Ui that hands every message to a function.
type uiFunc func(string)

func (f uiFunc) Say(format string, a ...any)   { f(fmt.Sprintf(format, a...)) }
func (f uiFunc) Error(format string, a ...any) { f(fmt.Sprintf(format, a...)) }
