//go:build unix

package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// "host serve echo" keeps command-echo supervised: a kill -9 of the plugin
// is reported, the plugin comes back as a new process, calls work again,
// and Ctrl-C leaves nothing running.
func TestServeRestartsKilledPlugin(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(filepath.Join(binDir, "host"), "serve", "-every", "100ms", "echo")
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
	started := regexp.MustCompile(`serve: command-echo: started \(pid (\d+)\)$`)
	var got []string
	sc := bufio.NewScanner(stdout)
	// waitFor reads lines until one matches re, and returns its submatches.
	waitFor := func(re *regexp.Regexp) []string {
		t.Helper()
		for sc.Scan() {
			got = append(got, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				return m
			}
		}
		t.Fatalf("no line matching %s:\n%s\nstderr:\n%s", re, strings.Join(got, "\n"), stderr.String())
		return nil
	}
	pid1, _ := strconv.Atoi(waitFor(started)[1])
	waitFor(regexp.MustCompile(`call: "Echo the arguments"`))
	if err := syscall.Kill(pid1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(regexp.MustCompile(`exited: .*pid ` + strconv.Itoa(pid1) + `\): signal: killed`))
	waitFor(regexp.MustCompile(`restarting in .* \(restart 1\)`))
	pid2, _ := strconv.Atoi(waitFor(started)[1])
	if pid2 == pid1 {
		t.Fatalf("restarted with the same pid %d", pid1)
	}
	waitFor(regexp.MustCompile(`call: "Echo the arguments"`))
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve ended with %v after Ctrl-C; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit within 30 s of Ctrl-C")
	}
	for _, pid := range []int{pid1, pid2} {
		if running(pid) {
			t.Errorf("plugin %d still runs after serve exited", pid)
		}
	}
}
