//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// execSelf is this binary as a plugin.
func execSelf(exe string, extra ...string) *exec.Cmd {
	cmd := exec.Command(exe)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGWIRE_") && !strings.HasPrefix(kv, "PACKER_PLUGIN_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	// Built with -race, a program sleeps a second at exit by default
	// waiting for racing goroutines to report; a plugin must not.
	env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Env = append(append(env, envPlugin+"=1"), extra...)
	return cmd
}

// becomeSubreaper makes this process adopt its orphaned descendants, so
// that a grandchild a plugin left is visible as our child at the end.
func becomeSubreaper() {
	const prSetChildSubreaper = 36
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
}

// children returns the pids of this process's children that are still
// running, after reaping those that exited (only call it once every
// Client is done: it reaps any child).
func children() []int {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			break
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	me := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}

// proc is a process: its pid and its start time, which tells it from a
// later process that reused the pid (pid_max is often 32768).
type proc struct {
	pid   int
	start string
}

// startTime returns field 22 of /proc/PID/stat, or "" when pid is gone.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// waitGone waits up to d for p to be gone (or a zombie, reaped if ours).
func waitGone(p proc, d time.Duration) bool {
	pid := p.pid
	deadline := time.Now().Add(d)
	for {
		var ws syscall.WaitStatus
		if wpid, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); wpid == pid {
			return true
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) || procState(pid) == "Z" || startTime(pid) != p.start {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling a real condition
	}
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return ""
	}
	return string(b[i+2])
}

func countFDs() int {
	es, _ := os.ReadDir("/proc/self/fd")
	return len(es)
}

// settle polls cond until it holds or d has passed.
func settle(cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond) // polling a real condition
	}
	return true
}

// logCount is the Logger output and Stdout of a client: it counts the
// flood lines that reach the host.
type logCount struct {
	mu    sync.Mutex
	flood int
	buf   []byte
	last  []string // the last lines that are not flood lines
}

// tail returns the last lines logged that are not flood lines.
func (l *logCount) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

func (l *logCount) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if bytes.Contains(l.buf[:i], []byte("flood xxxx")) {
			l.flood++
		} else {
			if len(l.last) == 30 {
				l.last = l.last[1:]
			}
			l.last = append(l.last, string(l.buf[:i]))
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *logCount) floods() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flood
}
