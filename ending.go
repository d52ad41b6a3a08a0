package plugwire

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/plugwire/plugwire/internal/wire"
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

// lifelineLag bounds how long a plugin whose connection ended waits for
// its lifeline to end too, to tell whether its host died: when it did,
// the kernel closes both at once.
const lifelineLag = time.Second

// endIfHostDied ends the plugin's process group, the plugin included,
// when its host died (its lifeline ended without the host asking it to
// quit): nobody else ends what the plugin started (a VM tool, a `sleep
// 300` sharing its stdout). Serve calls it on its way out, once the
// methods still running had their grace. Where the plugin does not lead
// its group, or on Windows, it does nothing.
func endIfHostDied(l **wire.Lifeline) {
	if *l != nil && (*l).HostDied(lifelineLag) {
		endOwnGroup()
	}
}
