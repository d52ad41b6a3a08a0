//go:build unix

package main

// The README's debug recipe, run as written with real processes.

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// debugged is builder-noop running by hand in debug mode.
type debugged struct {
	reattach string        // the value of the PLUGWIRE_REATTACH line it printed
	lines    chan string   // its stderr, line by line, after that line
	exited   chan struct{} // closed once it has exited
}

// bareEnv is the test's environment without plugwire's variables, as in a
// fresh shell.
func bareEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGWIRE_") && !strings.HasPrefix(kv, "PACKER_PLUGIN_") {
			env = append(env, kv)
		}
	}
	return env
}

// The README's recipe: builder-noop run with PLUGWIRE_DEBUG=1, its line
// exported in another shell, then bin/host build with debug.json (one
// build of noop) builds with the debugged process. A template with two
// noop builds run at once gets, as the README says, one build served and
// the other failed with the plugin's busy message; the plugin goes on
// serving.
func TestReadmeDebugRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example binaries")
	}
	t.Parallel()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), ".", "../command-build", "../host")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := startDebugged(t, filepath.Join(bin, "builder-noop"))

	out, code := runHost(t, filepath.Join(bin, "host"), p.reattach, "debug.json")
	if code != 0 || !strings.Contains(out, "debugged: noop: done") {
		t.Fatalf("host build debug.json: exit %d, output:\n%s", code, out)
	}
	p.await(t, "builder-noop: host 1 connected", "builder-noop: host 1 disconnected")

	two := filepath.Join(t.TempDir(), "two.json")
	if err := os.WriteFile(two, []byte(`{"builders": [{"type": "noop", "name": "a"}, {"type": "noop", "name": "b"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = runHost(t, filepath.Join(bin, "host"), p.reattach, two)
	done := strings.Count(out, ": noop: done")
	if code != 1 || done != 1 || !strings.Contains(out, "is in debug mode (pid ") ||
		!strings.Contains(out, "and serving another Client: it serves one host.Client at a time") {
		t.Fatalf("two noop builds at once: exit %d, %d finished, output:\n%s", code, done, out)
	}
	p.await(t, "builder-noop: another host connected while one is being served: told it so", "builder-noop: host 2 disconnected")

	out, code = runHost(t, filepath.Join(bin, "host"), p.reattach, "debug.json")
	if code != 0 {
		t.Fatalf("host build debug.json after the busy one: exit %d, output:\n%s", code, out)
	}
	p.await(t, "builder-noop: host 3 connected")
}

// startDebugged runs path in debug mode, as a person would in a shell,
// and reads the line it prints; it is interrupted at cleanup, as Ctrl-C
// would.
func startDebugged(t *testing.T, path string) *debugged {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = append(bareEnv(), "PLUGWIRE_DEBUG=1")
	r, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &debugged{lines: make(chan string, 1000), exited: make(chan struct{})}
	first := make(chan string, 1)
	var scanned sync.WaitGroup
	scanned.Go(func() {
		defer close(p.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PLUGWIRE_REATTACH="); ok && len(first) == 0 {
				first <- v
				continue
			}
			p.lines <- sc.Text()
		}
	})
	go func() {
		scanned.Wait()
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		go func() {
			for range p.lines { // unblock the scanner
			}
		}()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
			t.Error("builder-noop in debug mode still running 10 s after SIGINT")
		}
	})
	select {
	case v := <-first:
		// What the shell's export makes of the printed '...' quoting.
		p.reattach = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
	case <-p.exited:
		t.Fatal("builder-noop exited in debug mode before printing PLUGWIRE_REATTACH")
	case <-time.After(30 * time.Second):
		t.Fatal("builder-noop printed no PLUGWIRE_REATTACH line in 30 s")
	}
	return p
}

// await reads the plugin's stderr until each of want has appeared, in
// order.
func (p *debugged) await(t *testing.T, want ...string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	var seen []string
	for len(want) > 0 {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("builder-noop's stderr ended before %q; it said %q", want[0], seen)
			}
			seen = append(seen, l)
			if l == want[0] {
				want = want[1:]
			}
		case <-timeout:
			t.Fatalf("builder-noop did not say %q in 30 s; it said %q", want[0], seen)
		}
	}
}

// runHost runs "host build TEMPLATE" with PLUGWIRE_REATTACH exported, and
// returns its output (stdout and stderr) and exit code.
func runHost(t *testing.T, hostBin, reattach, template string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hostBin, "build", template)
	cmd.Env = append(bareEnv(), "PLUGWIRE_REATTACH="+reattach)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running host build %s: %v", template, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
