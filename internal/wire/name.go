package wire

import (
	"path/filepath"
	"strings"
)

// BinaryName is the name a plugin binary is known by, the same on every
// OS: the base name of path without a final ".exe" (in any case). A host
// names a plugin so in its logs and errors and finds it so in EnvReattach,
// whose entries a plugin in debug mode names so.
func BinaryName(path string) string {
	name := filepath.Base(path)
	if ext := filepath.Ext(name); strings.EqualFold(ext, ".exe") && len(name) > len(ext) {
		name = name[:len(name)-len(ext)]
	}
	return name
}
