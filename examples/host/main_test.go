//go:build unix

package main

// These tests build the example binaries and run the example host as a
// person would, with real plugin processes.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binDir holds the example binaries, built once for the test binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plugwire-examples-")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../...")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(dir)
		panic("building the examples: " + err.Error())
	}
	binDir = dir
	// The hosts these tests run keep their describe cache here, not in
	// the user's cache directory.
	_ = os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	_ = os.Setenv("HOME", dir)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// runHost runs the example host with args and returns its output and
// exit code.
func runHost(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "host"), args...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running host %q: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// writeTemplate writes a template in a temporary directory.
func writeTemplate(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// host alone lists every component found, with version, source binary
// and each command's synopsis.
func TestListComponents(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runHost(t)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		`builder\s+demo-file\s+1\.0\.0\s+plugin-demo\s*\n`,
		`builder\s+demo-sleep\s+1\.0\.0\s+plugin-demo\s*\n`,
		`builder\s+noop\s+-\s+builder-noop\s*\n`,
		`command\s+build\s+-\s+command-build\s+Run the builds of a JSON template in parallel\n`,
		`command\s+demo-hello\s+1\.0\.0\s+plugin-demo\s+Say hello from a plugin set\n`,
		`command\s+echo\s+-\s+command-echo\s+Echo the arguments\n`,
		`communicator\s+demo-local\s+1\.0\.0\s+plugin-demo\s*\n`,
		`provisioner\s+demo-upload\s+1\.0\.0\s+plugin-demo\s*\n`,
	} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("listing does not match %q:\n%s", want, stdout)
		}
	}
}

// Commands of sets and of one-component binaries run alike.
func TestRunCommands(t *testing.T) {
	t.Parallel()
	if stdout, _, code := runHost(t, "echo", "hello", "plugwire"); code != 0 || stdout != "hello plugwire\n" {
		t.Errorf("echo: exit %d, stdout %q", code, stdout)
	}
	if stdout, _, code := runHost(t, "demo-hello", "you"); code != 0 || !strings.HasPrefix(stdout, "hello, you, from plugin-demo 1.0.0") {
		t.Errorf("demo-hello: exit %d, stdout %q", code, stdout)
	}
	if _, stderr, code := runHost(t, "nope"); code != 2 || !strings.Contains(stderr, `no command "nope"`) || strings.Contains(stderr, "host: host:") {
		t.Errorf("nope: exit %d, stderr %q", code, stderr)
	}
}

// build runs every build of a template in parallel, prefixing each line
// with the build's name, and exits non-zero when any failed.
func TestBuild(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "artifact.txt")
	tpl := writeTemplate(t, `{"builders": [
		{"type": "noop", "name": "first"},
		{"type": "demo-sleep", "name": "vm", "seconds": 0},
		{"type": "demo-file", "name": "artifact", "path": "`+out+`", "content": "hi"}
	]}`)
	stdout, stderr, code := runHost(t, "build", tpl)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !regexp.MustCompile(`^(first|vm|artifact): |^build: 3 builds finished$`).MatchString(line) {
			t.Errorf("line without a build's prefix: %q", line)
		}
	}
	for _, want := range []string{"first: noop: done\n", "vm: sleep: deleted the pretend VM\n", "artifact: file: wrote 2 bytes to " + out + "\n", "build: 3 builds finished\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "hi" {
		t.Errorf("artifact: %q, %v", b, err)
	}

	tpl = writeTemplate(t, `{"builders": [
		{"type": "noop", "name": "ok"},
		{"type": "demo-file", "name": "nopath"},
		{"type": "nope", "name": "missing"}
	]}`)
	stdout, stderr, code = runHost(t, "build", tpl)
	if code != 1 {
		t.Errorf("failing template: exit %d, want 1", code)
	}
	for _, want := range []string{`nopath: build failed: preparing "demo-file": file: "path" is required`, `missing: build failed: getting builder "nope"`, "build: 2 of 3 builds failed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "ok: build finished") {
		t.Errorf("the good build did not finish:\n%s", stdout)
	}
}

// Ctrl-C (SIGINT to the terminal's process group) cancels every build,
// waits for each builder's cleanup, and exits non-zero.
func TestBuildInterrupted(t *testing.T) {
	t.Parallel()
	tpl := writeTemplate(t, `{"builders": [
		{"type": "demo-sleep", "name": "a", "seconds": 600},
		{"type": "demo-sleep", "name": "b", "seconds": 600}
	]}`)
	cmd := exec.Command(filepath.Join(binDir, "host"), "build", tpl)
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's process group
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	var got []string
	sc := bufio.NewScanner(stdout)
	creating := 0
	for creating < 2 && sc.Scan() {
		got = append(got, sc.Text())
		if strings.Contains(sc.Text(), "creating a pretend VM") {
			creating++
		}
	}
	if creating < 2 {
		t.Fatalf("the builds did not start:\n%s\nstderr:\n%s", strings.Join(got, "\n"), stderr.String())
	}
	plugins, _ := childPids(cmd.Process.Pid)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done: // a non-zero exit is checked below
	case <-time.After(30 * time.Second):
		t.Fatal("host did not exit within 30 s of Ctrl-C")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit status %d after Ctrl-C, want 130", code)
	}
	out := strings.Join(got, "\n")
	for _, want := range []string{"a: sleep: deleted the pretend VM", "b: sleep: deleted the pretend VM"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"a: build failed: context canceled", "b: build failed: context canceled", "2 of 2 builds failed", "host: interrupted\n"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	// The host waited for its plugins: none outlives it.
	if plugins != nil && len(plugins) < 3 {
		t.Errorf("host had children %v, want the command and two builders", plugins)
	}
	for _, pid := range plugins {
		if running(pid) {
			t.Errorf("plugin %d still runs after its host exited", pid)
		}
	}
}

// A second Ctrl-C ends the host at once; its plugins follow it.
func TestBuildInterruptedTwice(t *testing.T) {
	t.Parallel()
	tpl := writeTemplate(t, `{"builders": [{"type": "demo-sleep", "name": "a", "seconds": 600}]}`)
	cmd := exec.Command(filepath.Join(binDir, "host"), "build", tpl)
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "creating a pretend VM") {
	}
	plugins, ok := childPids(cmd.Process.Pid)
	if ok && len(plugins) < 2 {
		t.Fatalf("host had children %v, want the command and the builder", plugins)
	}
	// Only the host gets the signals here: the plugins must not see a
	// second one to be sure the host, not a signal, ends them.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	esc := bufio.NewScanner(stderr)
	for esc.Scan() && !strings.Contains(esc.Text(), "again to quit at once") {
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for esc.Scan() {
		}
	}()
	for sc.Scan() {
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("host did not end within 10 s of a second Ctrl-C")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("host ended with %v, want killed by SIGINT", cmd.ProcessState)
	}
	// The plugins notice through their lifelines, clean up and exit.
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range plugins {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("plugin %d outlived its host by 15 s", pid)
			}
			time.Sleep(10 * time.Millisecond) // polling a real condition
		}
	}
}
