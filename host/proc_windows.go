//go:build windows

package host

import (
	"os/exec"
	"sync"

	"golang.org/x/sys/windows"
)

// procTree is a started plugin and what it started, so that forcing the
// plugin ends them all. On Windows the plugin is put in a job object right
// after it starts, and forcing it terminates the job: every process the
// plugin started since then is in the job too (unless it was created with
// CREATE_BREAKAWAY_FROM_JOB in a job that allows it). What is left: a
// process the plugin started in the moment between its start and its
// assignment to the job (before the Go runtime has run the plugin's main,
// so in practice none), and, where the job cannot be made (the host itself
// runs in a job that forbids nesting, before Windows 8), the plugin alone
// is killed.
type procTree struct {
	cmd *exec.Cmd
	// mu guards job: Kill terminates it while the goroutine that reaps
	// the plugin may be closing it.
	mu  sync.Mutex
	job windows.Handle // 0 when the job could not be made, or once released
}

// prepareTree does nothing on Windows: the job is made once the plugin
// has started.
func prepareTree(*exec.Cmd, bool) {}

// newTree puts cmd, just started, in a new job object.
func newTree(cmd *exec.Cmd) *procTree {
	t := &procTree{cmd: cmd}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return t
	}
	p, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid))
	if err != nil {
		_ = windows.CloseHandle(job)
		return t
	}
	defer windows.CloseHandle(p)
	if err := windows.AssignProcessToJobObject(job, p); err != nil {
		_ = windows.CloseHandle(job)
		return t
	}
	t.job = job
	return t
}

// kill terminates the job, and the plugin in any case.
func (t *procTree) kill() {
	t.terminateJob()
	_ = t.cmd.Process.Kill()
}

// terminateJob terminates every process in the job, if there is one.
func (t *procTree) terminateJob() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.job != 0 {
		_ = windows.TerminateJobObject(t.job, 1)
	}
}

// awaitExit waits for the plugin to exit, without reaping it (the
// process handle Go holds keeps its pid from being reused), so that wait
// sees whether the host ended it before it terminates what is left in the
// job.
func (t *procTree) awaitExit() {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(t.cmd.Process.Pid))
	if err != nil {
		return
	}
	defer windows.CloseHandle(h)
	_, _ = windows.WaitForSingleObject(h, windows.INFINITE)
}

// wait reaps the plugin (exec.Cmd.Wait).
func (t *procTree) wait() error { return t.cmd.Wait() }

// endGroup terminates what is left in the plugin's job once the plugin has
// exited, when the host ended it: a plugin that gave up on a method
// ignoring its ctx exits on its own and would leave its children behind.
func (t *procTree) endGroup() { t.terminateJob() }

// release closes the job's handle once the plugin is reaped. The job is
// not KILL_ON_JOB_CLOSE: what a plugin that quit on its own left running
// is left running, as on Unix.
func (t *procTree) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.job != 0 {
		_ = windows.CloseHandle(t.job)
		t.job = 0
	}
}
