//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package host

// awaitExit does nothing where golang.org/x/sys has neither
// waitid(WNOWAIT) nor kqueue: endGroup then does nothing either, and only
// a forced kill ends the plugin's process group.
func (t *procTree) awaitExit() {}
