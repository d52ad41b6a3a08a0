//go:build unix

package host

import (
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/mattn/go-isatty"
)

// procTree is a started plugin and what it started, so that forcing the
// plugin ends them all. On Unix the plugin leads a process group of its
// own and forcing it kills the group: a `sleep 300` or a VM tool the plugin
// started does not outlive it. (A process that left the group, with setsid
// or setpgid, is out of reach: that is how such a process asks to outlive
// its parent.)
//
// The group is signalled only while the plugin is not reaped: its pid, the
// group's id, then still names it. Once reaped, the pid is free, and with a
// host starting many group leaders a reused pid leads another plugin's
// group. mu makes the signal and the reap exclusive.
type procTree struct {
	cmd   *exec.Cmd
	group bool // the plugin leads its own process group

	mu     sync.Mutex
	exited bool // the plugin has exited and is not reaped yet (awaitExit)
	reaped bool // the plugin is reaped, or about to be: no more signals
}

// signalGroup sends sig to the process group pgid; tests check through it
// that the group's leader is not reaped at that moment.
var signalGroup = func(pgid int, sig syscall.Signal) error { return syscall.Kill(-pgid, sig) }

// prepareTree makes cmd start in a process group of its own, unless the
// host's own SysProcAttr put it in another group, or hostGroup
// (Config.TerminalGroup), or its stdin is a terminal: a process outside the terminal's foreground group that reads
// it is stopped (SIGTTIN), so such a plugin stays in the host's group and
// a forced kill ends the plugin alone.
func prepareTree(cmd *exec.Cmd, hostGroup bool) {
	if f, ok := cmd.Stdin.(*os.File); hostGroup || ok && isTerminal(f) {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if a := cmd.SysProcAttr; !a.Setsid && a.Pgid == 0 && !a.Foreground {
		a.Setpgid = true
	}
}

func isTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	tty := false
	_ = rc.Control(func(fd uintptr) { tty = isatty.IsTerminal(fd) })
	return tty
}

// newTree returns the tree of cmd, just started.
func newTree(cmd *exec.Cmd) *procTree {
	a := cmd.SysProcAttr
	own := a != nil && (a.Setsid || a.Setpgid && a.Pgid == 0)
	return &procTree{cmd: cmd, group: own}
}

// kill kills the plugin and its process group, unless it is reaped.
func (t *procTree) kill() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reaped {
		return
	}
	_ = t.killGroup()
	_ = t.cmd.Process.Kill()
}

// killGroup kills the plugin's process group, when it leads one: the one
// place the host signals a group. t.mu is held and the plugin not reaped,
// so its pid still names the group.
func (t *procTree) killGroup() error {
	if !t.group {
		return nil
	}
	return signalGroup(t.cmd.Process.Pid, syscall.SIGKILL)
}

// endGroup kills what is left of the plugin's process group once the
// plugin has exited: what a describe run left, and, when the host ended
// the plugin, what a plugin that gave up on a method ignoring its ctx left
// at the end of its grace period. It acts only while the plugin is known
// to be a zombie (see awaitExit), whose pid no other process can have.
func (t *procTree) endGroup() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exited && !t.reaped {
		_ = t.killGroup()
	}
}

// wait reaps the plugin (exec.Cmd.Wait). No signal is sent once it
// begins: where awaitExit saw the exit, the plugin is a zombie until then.
// Where it could not, a kill that crosses the reap may still reach the
// pid after it was freed (a window of microseconds).
func (t *procTree) wait() error {
	t.mu.Lock()
	known := t.exited
	if known {
		t.reaped = true
	}
	t.mu.Unlock()
	err := t.cmd.Wait()
	t.mu.Lock()
	t.reaped = true
	t.mu.Unlock()
	return err
}

// release frees what the tree holds, once the plugin is reaped.
func (t *procTree) release() {}
