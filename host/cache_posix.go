//go:build linux || darwin

package host

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// cacheStamp is the identity of the file at path that the describe cache
// keys on: fi's stamp (see stampOf).
func cacheStamp(_ string, fi os.FileInfo) (fileStamp, bool) { return stampOf(fi) }

// tryLock takes f's exclusive lock if it is free: errLockBusy when
// another holds it, errNoLocks when the file system has none.
func tryLock(f *os.File) (unlock func(), err error) {
	fd := int(f.Fd())
	err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
		return func() { _ = unix.Flock(fd, unix.LOCK_UN) }, nil
	case errors.Is(err, unix.EWOULDBLOCK), errors.Is(err, unix.EINTR):
		return nil, errLockBusy
	case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		return nil, errNoLocks
	}
	return nil, err
}

// renameOver renames the file old to new, replacing new.
func renameOver(old, new string) error { return os.Rename(old, new) }
