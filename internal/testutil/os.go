package testutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TempDir is t.TempDir, except under Wine, whose os.RemoveAll fails on a
// directory that holds files ("unlinkat ...: Invalid function": Wine lacks
// the POSIX-semantics delete that Go's RemoveAll uses on Windows): there
// the directory is made with os.MkdirTemp and removed entry by entry with
// os.Remove, which works.
func TempDir(t testing.TB) string {
	t.Helper()
	if !Wine() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "plugwire-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var paths []string
		_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			paths = append(paths, p)
			return nil
		})
		slices.Reverse(paths) // entries before their directories
		for _, p := range paths {
			if err := os.Remove(p); err != nil {
				t.Errorf("removing the test's temporary %s: %v", p, err)
			}
		}
	})
	return dir
}
