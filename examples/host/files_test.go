//go:build unix

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

var rateLine = regexp.MustCompile(`^(\d+) bytes in [0-9.]+(ns|µs|ms|s|m[0-9.]+s) \([0-9.]+ MB/s\)\n$`)

// upload and download move a file through communicator/demo-local, whole,
// and say how fast in one line.
func TestUploadDownload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := make([]byte, 3<<20+1)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd, src, dst string
		want          []byte
	}{
		{"upload", src, filepath.Join(dir, "up"), data},
		{"download", filepath.Join(dir, "up"), filepath.Join(dir, "down"), data},
		{"upload", empty, filepath.Join(dir, "up-empty"), nil},
		{"download", filepath.Join(dir, "up-empty"), filepath.Join(dir, "down-empty"), nil},
	} {
		stdout, stderr, code := runHost(t, tc.cmd, tc.src, tc.dst)
		m := rateLine.FindStringSubmatch(stdout)
		if code != 0 || stderr != "" || m == nil || m[1] != strconv.Itoa(len(tc.want)) {
			t.Fatalf("%s %s %s: exit %d, stdout %q, stderr %q", tc.cmd, tc.src, tc.dst, code, stdout, stderr)
		}
		if got, err := os.ReadFile(tc.dst); err != nil || !bytes.Equal(got, tc.want) {
			t.Fatalf("%s: %s holds %d bytes (%v), want the %d of %s", tc.cmd, tc.dst, len(got), err, len(tc.want), tc.src)
		}
	}
	assertFiles(t, dir, "down", "down-empty", "empty", "src", "up", "up-empty")
}

// Bad arguments and failures of the communicator are one line on stderr,
// and leave no file behind.
func TestUploadDownloadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"upload", src}, 2, "usage: host upload SRC DST"},
		{[]string{"download", filepath.Join(dir, "nope"), filepath.Join(dir, "x")}, 1, "download " + filepath.Join(dir, "nope") + ": no such file"},
		{[]string{"download", dir, filepath.Join(dir, "x")}, 1, "is a directory"},
		{[]string{"upload", filepath.Join(dir, "nope"), filepath.Join(dir, "x")}, 1, "no such file or directory"},
		{[]string{"upload", src, filepath.Join(dir, "no-dir", "x")}, 1, "upload to " + filepath.Join(dir, "no-dir", "x")},
	} {
		_, stderr, code := runHost(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("host %q: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	assertFiles(t, dir, "src")
}

// Ctrl-C during an upload or a download ends the host within 1 s with
// status 130, and leaves no partial file: the source is a pipe that
// yields a MiB and then waits, as a slow source does.
func TestFileCommandInterrupted(t *testing.T) {
	t.Parallel()
	for _, cmdName := range []string{"upload", "download"} {
		t.Run(cmdName, func(t *testing.T) {
			t.Parallel()
			srcDir, dstDir := t.TempDir(), t.TempDir()
			src := filepath.Join(srcDir, "fifo")
			if err := syscall.Mkfifo(src, 0o600); err != nil {
				t.Fatal(err)
			}
			fed, hold := make(chan error, 1), make(chan struct{})
			defer close(hold)
			go func() { // whoever opens src to read gets a MiB, then waits
				w, err := os.OpenFile(src, os.O_WRONLY, 0)
				if err != nil {
					fed <- err
					return
				}
				defer w.Close()
				_, err = w.Write(make([]byte, 1<<20))
				fed <- err
				<-hold
			}()
			dst := filepath.Join(dstDir, "dst")
			cmd := exec.Command(filepath.Join(binDir, "host"), cmdName, src, dst)
			cmd.Dir = t.TempDir()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's process group
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
			errLines := make(chan string, 100)
			go func() {
				defer close(errLines)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					errLines <- sc.Text()
				}
			}()

			// The MiB has left the pipe and the partial file exists.
			if err := <-fed; err != nil {
				t.Fatalf("feeding the pipe: %v", err)
			}
			for len(partials(t, dstDir)) == 0 {
				time.Sleep(5 * time.Millisecond) // polling a real condition
			}
			plugins, _ := childPids(cmd.Process.Pid)
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			bound := testutil.Slack(time.Second)
			select {
			case <-done:
			case <-time.After(bound + 10*time.Second):
				t.Fatalf("host did not exit within %v of Ctrl-C", bound+10*time.Second)
			}
			took := time.Since(sent)
			t.Logf("host exited %v after Ctrl-C", took)
			if took > bound {
				t.Errorf("host exited %v after Ctrl-C, want within %v", took, bound)
			}
			var errOut []string
			for l := range errLines {
				errOut = append(errOut, l)
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("exit status %d after Ctrl-C, want 130; stderr:\n%s", code, strings.Join(errOut, "\n"))
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q after Ctrl-C, want nothing", stdout.String())
			}
			if !strings.Contains(strings.Join(errOut, "\n"), "host: interrupted") {
				t.Errorf("stderr lacks %q:\n%s", "host: interrupted", strings.Join(errOut, "\n"))
			}
			assertFiles(t, dstDir)
			for _, pid := range plugins {
				if running(pid) {
					t.Errorf("plugin %d still runs after its host exited", pid)
				}
			}
		})
	}
}

// partials lists the partial files in dir.
func partials(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.part-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// assertFiles checks that dir holds exactly the files named.
func assertFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// A builder block's provisioners run after its build: demo-upload sends
// the artifact through the Communicator the host serves it, talking
// through the build's Ui.
func TestBuildProvisions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	artifact, uploaded := filepath.Join(dir, "artifact.txt"), filepath.Join(dir, "uploaded.txt")
	tpl := writeTemplate(t, `{"builders": [
		{"type": "demo-file", "name": "artifact", "path": "`+artifact+`", "content": "hi",
		 "provisioners": [{"type": "demo-upload", "source": "`+artifact+`", "destination": "`+uploaded+`"}]},
		{"type": "noop", "name": "broken",
		 "provisioners": [{"type": "demo-upload", "source": "`+filepath.Join(dir, "nope")+`", "destination": "`+uploaded+`.2"}]}
	]}`)
	stdout, stderr, code := runHost(t, "build", tpl)
	if code != 1 {
		t.Errorf("exit %d, want 1 (one provisioner fails)", code)
	}
	for _, want := range []string{"artifact: upload: uploading " + artifact + " to " + uploaded + "\n", "artifact: upload: uploaded 2 bytes to " + uploaded + "\n", "artifact: build finished\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if want := `broken: build failed: provisioner "demo-upload": upload: open ` + filepath.Join(dir, "nope"); !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if b, err := os.ReadFile(uploaded); err != nil || string(b) != "hi" {
		t.Errorf("uploaded: %q, %v", b, err)
	}
	assertFiles(t, dir, "artifact.txt", "uploaded.txt")
}
