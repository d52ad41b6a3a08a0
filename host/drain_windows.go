//go:build windows

package host

import "os"

// ownPipes: on Windows os/exec copies the plugin's output (a pipe's
// deadlines and pending bytes are not available there), and Cmd.WaitDelay
// bounds a grandchild holding it: what the plugin wrote last can be lost
// when the host is short of CPU at its exit.
const ownPipes = false

func pending(*os.File) int { return 0 }
