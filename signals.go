package plugwire

import (
	"os"
	"os/signal"
	"syscall"
)

// ignoreStopSignals keeps SIGINT, SIGTERM and SIGHUP from ending the
// plugin: Ctrl-C in a terminal and a service manager's SIGTERM reach the
// whole process group, and the host decides, cancelling through contexts
// (as Packer's plugins do). SIGHUP comes from the kernel when the host
// dies: the plugin's process group is then orphaned, and if a member is
// stopped, every member gets SIGHUP and SIGCONT, in the middle of the
// plugin's cleanup. The signals are caught and dropped rather than
// ignored, so that processes the plugin starts still get their default
// behaviour.
//
// SIGPIPE is caught too: a plugin whose host died writes its stdout and
// stderr into pipes nobody reads, and a Go program that does not catch
// SIGPIPE dies of its first such write, in the middle of cleaning up. With
// it caught, the write fails with EPIPE and the plugin goes on.
func ignoreStopSignals() {
	signal.Notify(make(chan os.Signal, 1), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
}
