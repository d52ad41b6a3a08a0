//go:build !linux && !darwin && !windows

package host

import (
	"errors"
	"os"
	"time"
)

// cacheStamp reports no identity where stampOf gives none: no binary is
// cached.
func cacheStamp(_ string, fi os.FileInfo) (fileStamp, bool) { return stampOf(fi) }

func lockCache(string, time.Duration) (func(), error) {
	return nil, errors.New("no file locking on this system")
}

func renameOver(old, new string) error { return os.Rename(old, new) }
