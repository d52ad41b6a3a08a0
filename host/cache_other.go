//go:build !linux && !darwin && !windows

package host

import "os"

// cacheStamp reports no identity where stampOf gives none: no binary is
// cached.
func cacheStamp(_ string, fi os.FileInfo) (fileStamp, bool) { return stampOf(fi) }

func tryLock(*os.File) (func(), error) { return nil, errNoLocks }

func renameOver(old, new string) error { return os.Rename(old, new) }
