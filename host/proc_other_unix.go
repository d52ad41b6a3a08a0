//go:build unix && !linux

package host

// awaitExit does nothing where there is no waitid(WNOWAIT) in
// golang.org/x/sys: endGroup then does nothing either, and only a forced
// kill ends the plugin's process group.
func (t *procTree) awaitExit() {}
