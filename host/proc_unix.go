//go:build unix

package host

import (
	"errors"
	"os"
	"os/exec"
	"syscall"

	"github.com/mattn/go-isatty"
)

// procTree is a started plugin and what it started, so that forcing the
// plugin ends them all. On Unix the plugin leads a process group of its
// own and forcing it kills the group: a `sleep 300` or a VM tool the plugin
// started does not outlive it. (A process that left the group, with setsid
// or setpgid, is out of reach: that is how such a process asks to outlive
// its parent.)
type procTree struct {
	cmd    *exec.Cmd
	group  bool // the plugin leads its own process group
	zombie bool // the plugin has exited and is not reaped yet (awaitExit)
}

// prepareTree makes cmd start in a process group of its own, unless the
// host's own SysProcAttr put it in another group, or its stdin is a
// terminal: a process outside the terminal's foreground group that reads
// it is stopped (SIGTTIN), so such a plugin stays in the host's group and
// a forced kill ends the plugin alone.
func prepareTree(cmd *exec.Cmd) {
	if f, ok := cmd.Stdin.(*os.File); ok && isTerminal(f) {
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

// kill kills the plugin and its process group. It is called before the
// plugin is reaped, so its pid still names its group.
func (t *procTree) kill() {
	if t.group {
		if err := syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			_ = t.cmd.Process.Kill()
		}
	}
	_ = t.cmd.Process.Kill()
}

// endGroup kills what is left of the plugin's process group once the
// plugin has exited, when the host ended it: a plugin that gave up on a
// method ignoring its ctx, at the end of its grace period, exits on its own
// and would leave that method's children behind. It acts only while the
// plugin is a zombie (see awaitExit), whose pid no other process can have.
func (t *procTree) endGroup() {
	if t.group && t.zombie {
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// release frees what the tree holds, once the plugin is reaped.
func (t *procTree) release() { t.zombie = false }
