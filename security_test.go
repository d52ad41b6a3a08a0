package plugwire_test

// Tests of the plugin port's protection: loopback only, one proven
// connection, a per-launch secret, and a protocol version check.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// fakePlugin announces a port like a plugin, greets the first connection
// with a greeting of version, reads the host's intro and proof and answers
// with answer(greeting, intro, proof) when that is not nil, without
// serving. What the host sends after its proof goes, as it arrives, to the
// file named by envRecord when that is set.
func fakePlugin(version uint32, answer func(greeting, intro, proof []byte) []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	conn, err := ln.Accept()
	if err != nil {
		os.Exit(1)
	}
	g, err := wire.Greeting(version)
	if err != nil {
		os.Exit(1)
	}
	_, _ = conn.Write(g)
	msg := make([]byte, wire.IntroSize+wire.ProofSize)
	if _, err := io.ReadFull(conn, msg); err != nil {
		_, _ = io.Copy(io.Discard, os.Stdin) // until the host kills it
		return
	}
	sink := io.Discard
	if path := os.Getenv(envRecord); path != "" {
		f, err := os.Create(path)
		if err != nil {
			os.Exit(1)
		}
		sink = f
	}
	if a := answer(g, msg[:wire.IntroSize], msg[wire.IntroSize:]); a != nil {
		_, _ = conn.Write(a)
	}
	_, _ = io.Copy(sink, conn)
}

// envRecord names the file a fake plugin records the host's bytes in.
const envRecord = "PLUGWIRE_TEST_RECORD"

// impostorPlugin accepts the host like a plugin but does not know the
// secret: a process that took the port of a plugin that died.
func impostorPlugin() {
	fakePlugin(wire.ProtocolVersion, func(g, i, p []byte) []byte {
		return wire.Answer(wire.Secret{}, wire.StatusOK, g, i, p)
	})
}

// mutePlugin reads the host's proof and never answers it.
func mutePlugin() {
	fakePlugin(wire.ProtocolVersion, func(_, _, _ []byte) []byte { return nil })
}

// dyingPlugin reads the host's proof and exits with status 3 instead of
// answering.
func dyingPlugin() {
	fakePlugin(wire.ProtocolVersion, func(_, _, _ []byte) []byte {
		os.Exit(3)
		return nil
	})
}

// TestPluginDiesBeforeAnswering: a plugin that exits between the host's
// hello and its answer (while the host already runs yamux) fails the
// start with ErrProcessExited and its exit status, not a transport error.
func TestPluginDiesBeforeAnswering(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0])
	cmd.Env = pluginEnv("dying")
	c := host.NewClient(&host.Config{Cmd: cmd, Logger: hclog.NewNullLogger()})
	defer c.Kill()
	for i := range 2 {
		_, err := c.Command()
		if !errors.Is(err, host.ErrProcessExited) || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("Dispense %d = %v, want ErrProcessExited with exit status 3", i+1, err)
		}
	}
}

// TestImpostorPluginRejected: the host only talks to a process that proves
// the secret it gave the plugin it started; the secret itself never
// crosses the connection. The host sends go-plugin's first frames while
// the answer to its hello is on the way, so an impostor sees those (stream
// openings and the Dispense request naming the plugin type) and nothing
// else.
func TestImpostorPluginRejected(t *testing.T) {
	t.Parallel()
	record := filepath.Join(testutil.TempDir(t), "received")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(pluginEnv("impostor"), envRecord+"="+record)
	c := host.NewClient(&host.Config{Cmd: cmd, Logger: hclog.NewNullLogger()})
	defer c.Kill()
	if _, err := c.Command(); !errors.Is(err, host.ErrHandshake) {
		t.Errorf("Command() from an impostor = %v, want a refusal", err)
	}
	if _, err := c.Builder(); !errors.Is(err, host.ErrHandshake) {
		t.Errorf("second Dispense from an impostor = %v, want the same refusal", err)
	}
	if !c.Exited() {
		t.Error("the impostor still runs after the refusal")
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	data := map[uint32][]byte{} // data frame bodies by stream
	for b := got; len(b) > 0; {
		if len(b) < 12 {
			t.Fatalf("impostor got a cut frame header % x", b)
		}
		typ, stream, length := b[1], binary.BigEndian.Uint32(b[4:8]), binary.BigEndian.Uint32(b[8:12])
		b = b[12:]
		if typ != 0 { // window updates, pings and go-aways carry no body
			continue
		}
		if uint32(len(b)) < length {
			t.Fatalf("impostor got a cut data frame on stream %d", stream)
		}
		data[stream] = append(data[stream], b[:length]...)
		b = b[length:]
	}
	// Whether the Dispense request left before the refusal is a race.
	ctl := data[1]
	delete(data, 1)
	if len(data) != 0 {
		t.Errorf("impostor got data on streams %v besides the control stream (1)", slices.Sorted(maps.Keys(data)))
	}
	if len(ctl) > 0 && (!strings.Contains(string(ctl), "Dispenser.Dispense") || len(ctl) > 512) {
		t.Errorf("impostor got %q on the control stream; want at most the Dispense request", ctl)
	}
}

// TestMutePluginTimesOut: a process that takes the host's hello and never
// answers fails the start with ErrStartTimeout, and is killed: after
// StartTimeout, or 10 s after the host connected when StartTimeout is
// longer (yamux runs meanwhile, and would give up on its own keepalive at
// 40 s with a misleading error).
func TestMutePluginTimesOut(t *testing.T) {
	t.Parallel()
	// The short StartTimeout must pass while the host waits for the
	// answer, not while the plugin starts: a race-instrumented test binary
	// on a loaded machine takes a good part of a second to print its
	// address, so this one is scaled, and the text follows it.
	short := testutil.Slack(time.Second)
	for _, tc := range []struct {
		name         string
		startTimeout time.Duration
		want         string
		wait         time.Duration // how long the answer may take
	}{
		{"short", short, fmt.Sprintf("did not complete the handshake within %v", short), short},
		{"2m", 2 * time.Minute, "within 10s of the host connecting", 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0])
			cmd.Env = pluginEnv("mute")
			c := host.NewClient(&host.Config{Cmd: cmd, Logger: hclog.NewNullLogger(), StartTimeout: tc.startTimeout})
			defer c.Kill()
			t0 := time.Now()
			_, err := c.Command()
			if !errors.Is(err, host.ErrStartTimeout) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Command() from a mute plugin = %v, want ErrStartTimeout saying %q", err, tc.want)
			}
			if d := time.Since(t0); d < tc.wait || d > tc.wait+testutil.Slack(5*time.Second) {
				t.Errorf("Command() took %v, want %v (+ up to %v)", d, tc.wait, testutil.Slack(5*time.Second))
			}
			if !c.Exited() {
				t.Error("the mute plugin still runs after the timeout")
			}
		})
	}
}

// fakeVersionPlugin is a plugin built against a future protocol: it answers
// any host with version 99.
func fakeVersionPlugin() {
	secret, err := wire.ParseSecret(os.Getenv(wire.EnvSecret))
	if err != nil {
		os.Exit(1)
	}
	fakePlugin(99, func(g, i, p []byte) []byte { return wire.Answer(secret, wire.StatusOK, g, i, p) })
}

// handPlugin starts the command test plugin by hand, as a host would but
// without package host, and returns its address and secret.
func handPlugin(t *testing.T, extraEnv ...string) (addr string, secret wire.Secret, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	secret, err := wire.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(pluginEnv("command"),
		wire.EnvMinPort+"=20000", wire.EnvMaxPort+"=30000", wire.EnvSecret+"="+secret.Env())
	cmd.Env = append(cmd.Env, extraEnv...)
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading address line: %v", err)
	}
	addr, err = wire.ParseAddress(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return addr, secret, cmd, stderr
}

// connectHost proves secret on addr and returns a working RPC client.
func connectHost(t *testing.T, addr string, secret wire.Secret) *plugin.RPCClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("host dial: %v", err)
	}
	if err := wire.Prove(conn, secret, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("host handshake: %v", err)
	}
	c, err := plugin.NewRPCClient(conn, map[string]plugin.Plugin{"command": &shared.CommandPlugin{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func synopsis(t *testing.T, c *plugin.RPCClient) string {
	t.Helper()
	raw, err := c.Dispense("command")
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	return raw.(shared.Command).Synopsis()
}

// TestIntruderBeforeHost: a local process that dials first and tries to
// speak go-plugin's protocol, or plugwire's without the secret, gets
// nothing but the plugin's greeting (magic, version, a nonce), and the
// host still connects.
func TestIntruderBeforeHost(t *testing.T) {
	t.Parallel()
	addr, secret, _, _ := handPlugin(t)
	for _, tc := range []struct {
		name  string
		proof func(greeting []byte) []byte // what the intruder sends after reading the greeting
	}{
		{"go-plugin without preamble", nil},
		{"intro without proof", func([]byte) []byte { return wire.Intro(wire.ProtocolVersion) }},
		{"wrong secret", func(g []byte) []byte {
			intro := wire.Intro(wire.ProtocolVersion)
			p, err := wire.HostProof(wire.Secret{}, g, intro)
			if err != nil {
				t.Fatal(err)
			}
			return append(intro, p...)
		}},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.name, err)
		}
		if tc.proof == nil {
			// Try to dispense straight away, as a stock go-plugin client would.
			c, err := plugin.NewRPCClient(conn, map[string]plugin.Plugin{"command": &shared.CommandPlugin{}})
			if err == nil {
				_ = conn.SetDeadline(time.Now().Add(wire.HandshakeTimeout + 5*time.Second))
				if _, err := c.Dispense("command"); err == nil {
					t.Errorf("%s: intruder dispensed the command", tc.name)
				}
				_ = c.Close()
			}
			continue
		}
		g := make([]byte, wire.GreetingSize)
		_ = conn.SetReadDeadline(time.Now().Add(wire.HandshakeTimeout + 5*time.Second))
		if _, err := io.ReadFull(conn, g); err != nil {
			t.Fatalf("%s: no greeting: %v", tc.name, err)
		}
		_, _ = conn.Write(tc.proof(g))
		if rest, err := io.ReadAll(conn); len(rest) > 0 || err != nil {
			t.Errorf("%s: plugin sent %d bytes beyond its greeting to an unproven connection (%v), want the end", tc.name, len(rest), err)
		}
		_ = conn.Close()
	}
	if got := synopsis(t, connectHost(t, addr, secret)); got != "the e2e test command" {
		t.Errorf("host after intruders: Synopsis = %q", got)
	}
}

// TestSilentIntruderDoesNotBlockHost: a connection that sends nothing is
// not the one connection; the host connects beside it at once.
func TestSilentIntruderDoesNotBlockHost(t *testing.T) {
	t.Parallel()
	addr, secret, _, _ := handPlugin(t)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if got := synopsis(t, connectHost(t, addr, secret)); got != "the e2e test command" {
		t.Errorf("Synopsis = %q", got)
	}
	// Once the host is in, the silent one is closed too: it got the
	// greeting and then the end.
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(idle); (err != nil && !errors.Is(err, testutil.ECONNRESET)) || len(got) > wire.GreetingSize {
		t.Errorf("silent intruder read %d bytes, %v; want at most the greeting, then EOF once the host is connected", len(got), err)
	}
}

// TestSecondConnectionRefused: once the host is connected the listener is
// closed.
func TestSecondConnectionRefused(t *testing.T) {
	t.Parallel()
	// A port range of its own: once the listener closes, a plugin of
	// another test must not take the port and answer the second dial.
	addr, secret, _, _ := handPlugin(t, wire.EnvMinPort+"=32000", wire.EnvMaxPort+"=32099")
	c := connectHost(t, addr, secret)
	if got := synopsis(t, c); got == "" {
		t.Fatal("host got no synopsis")
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Errorf("a second dial of %s succeeded; want it refused", addr)
	} else if !errors.Is(err, testutil.ECONNREFUSED) {
		t.Errorf("second dial: %v, want connection refused", err)
	}
}

// TestLoopbackOnly: the address is loopback, and the port is not reachable
// on the machine's other addresses.
func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	addr, _, _, _ := handPlugin(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %q is not on 127.0.0.1", addr)
	}
	_, port, _ := net.SplitHostPort(addr)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.To4() == nil {
			continue
		}
		tried++
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ipnet.IP.String(), port), 2*time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("plugin port %s is reachable on %s", port, ipnet.IP)
		}
	}
	t.Logf("checked %d non-loopback addresses", tried)
}

// TestVersionMismatch: both directions fail at connect with one error that
// names both versions.
func TestVersionMismatch(t *testing.T) {
	t.Parallel()
	t.Run("host newer than plugin", func(t *testing.T) {
		t.Parallel()
		addr, secret, cmd, _ := handPlugin(t)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A newer host introduces itself and (say) sends more at once.
		_, _ = conn.Write(append(wire.Intro(wire.ProtocolVersion+1), 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(conn)
		if err != nil && !errors.Is(err, testutil.ECONNRESET) {
			t.Fatalf("reading the plugin's side: %v", err)
		}
		// The host reads the version from the greeting and reports both.
		if len(got) != wire.GreetingSize || binary.BigEndian.Uint32(got[8:12]) != wire.ProtocolVersion {
			t.Fatalf("plugin sent %q, want its greeting with version %d, then the end", got, wire.ProtocolVersion)
		}
		// An unproven connection, whatever it says, cannot end the
		// plugin: its own host still connects.
		if cmd.ProcessState != nil {
			t.Fatal("the plugin exited")
		}
		if got := synopsis(t, connectHost(t, addr, secret)); got != "the e2e test command" {
			t.Errorf("host after a newer one: Synopsis = %q", got)
		}
	})
	t.Run("plugin newer than host", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(os.Args[0])
		cmd.Env = pluginEnv("fake-version")
		c := host.NewClient(&host.Config{Cmd: cmd, Logger: hclog.NewNullLogger()})
		defer c.Kill()
		_, err := c.Command()
		want := fmt.Sprintf("plugin speaks plugwire protocol 99, this host speaks %d", wire.ProtocolVersion)
		if !errors.Is(err, wire.ErrVersionMismatch) || !strings.Contains(err.Error(), want) {
			t.Errorf("Command() = %v, want a version mismatch naming both (%q)", err, want)
		}
	})
}

// TestSecretStaysSecret: the plugin unsets the secret, and it appears in no
// log line or error, even at Trace.
func TestSecretStaysSecret(t *testing.T) {
	t.Parallel()
	var logs testutil.Buffer
	cmd := exec.Command(os.Args[0])
	cmd.Env = pluginEnv("command")
	c := host.NewClient(&host.Config{Cmd: cmd, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &logs})})
	command, err := c.Command()
	if err != nil {
		t.Fatal(err)
	}
	// The plugin reports the secret it was started with (rather than
	// /proc, which Windows lacks); the host's Cmd never holds it.
	said := &recUi{}
	command.Run(t.Context(), &env{t: t, ui: said}, []string{"initial-secret"})
	var secret string
	if got := said.lines_(); len(got) == 1 {
		secret = strings.TrimPrefix(got[0], "say: ")
	}
	if len(secret) < 32 {
		t.Fatalf("secret %d hex digits, want at least 32 (128 bits)", len(secret))
	}
	ui := &recUi{}
	command.Run(t.Context(), &env{t: t, ui: ui}, []string{"env", wire.EnvSecret})
	if got := ui.lines_(); len(got) != 1 || got[0] != `say: PLUGWIRE_SECRET="" set=false` {
		t.Errorf("plugin sees %q, want the secret unset", got)
	}
	c.Kill()
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the secret appears in the host's log")
	}
}

// TestImpostorGetsNothingFromStart: a host that starts with Start sends
// nothing but its preamble before the plugin has proven the secret.
func TestImpostorGetsNothingFromStart(t *testing.T) {
	t.Parallel()
	record := filepath.Join(testutil.TempDir(t), "received")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(pluginEnv("impostor"), envRecord+"="+record)
	c := host.NewClient(&host.Config{Cmd: cmd, Logger: hclog.NewNullLogger()})
	defer c.Kill()
	if err := c.Start(context.Background()); !errors.Is(err, host.ErrHandshake) {
		t.Errorf("Start with an impostor = %v, want ErrHandshake", err)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("the impostor received %d bytes after the preamble: % x", len(got), got)
	}
}
