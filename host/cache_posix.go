//go:build linux || darwin

package host

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// cacheStamp is the identity of the file at path that the describe cache
// keys on: fi's stamp (see stampOf).
func cacheStamp(_ string, fi os.FileInfo) (fileStamp, bool) { return stampOf(fi) }

// lockCache takes the lock file at path, waiting up to wait for another
// writer to release it, and returns its release.
func lockCache(path string, wait time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(fd, unix.LOCK_UN); f.Close() }, nil
		}
		if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
			// A file system without locks (some NFS mounts): writers
			// may then lose each other's entries, never see half a file.
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s stayed locked by another host for %v", path, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// renameOver renames the file old to new, replacing new.
func renameOver(old, new string) error { return os.Rename(old, new) }
