package plugwire

import (
	"time"

	"github.com/plugwire/plugwire/internal/wire"
)

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
