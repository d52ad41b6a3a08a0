package host

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fileBasicInfo is FILE_BASIC_INFO: times in 100 ns since 1601.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
	_                                                       uint32
}

// cacheStamp is the identity of the file at path that the describe cache
// keys on: volume serial number, file index, size, last write and change
// times. Unlike the last write time, the change time moves with every
// write and with every change of the other times (a copy that keeps the
// modification time of its source still changes it), though a program
// may set it.
func cacheStamp(path string, _ os.FileInfo) (fileStamp, bool) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return fileStamp{}, false
	}
	h, err := windows.CreateFile(p, windows.FILE_READ_ATTRIBUTES, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return fileStamp{}, false
	}
	defer windows.CloseHandle(h)
	var bh windows.ByHandleFileInformation
	if windows.GetFileInformationByHandle(h, &bh) != nil {
		return fileStamp{}, false
	}
	var bi fileBasicInfo
	if windows.GetFileInformationByHandleEx(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&bi)), uint32(unsafe.Sizeof(bi))) != nil {
		return fileStamp{}, false
	}
	// Unix nanoseconds, as the other systems' stamps, for quietFor.
	const epochDelta = 116444736000000000 // 1601 to 1970 in 100 ns
	return fileStamp{
		dev:   uint64(bh.VolumeSerialNumber),
		ino:   uint64(bh.FileIndexHigh)<<32 | uint64(bh.FileIndexLow),
		size:  int64(bh.FileSizeHigh)<<32 | int64(bh.FileSizeLow),
		mtime: (bi.LastWriteTime - epochDelta) * 100,
		ctime: (bi.ChangeTime - epochDelta) * 100,
	}, true
}

// tryLock takes f's exclusive lock if it is free: errLockBusy when
// another holds it.
func tryLock(f *os.File) (unlock func(), err error) {
	h := windows.Handle(f.Fd())
	ol := new(windows.Overlapped)
	err = windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	switch {
	case err == nil:
		return func() { _ = windows.UnlockFileEx(h, 0, 1, 0, ol) }, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return nil, errLockBusy
	}
	return nil, err
}

// renameOver renames the file old to new, replacing new. A reader that
// has new open makes the rename fail for a moment on Windows: it is tried
// again for a while.
func renameOver(old, new string) error {
	var err error
	for try := 0; try < 20; try++ {
		if err = os.Rename(old, new); err == nil || !errors.Is(err, windows.ERROR_ACCESS_DENIED) && !errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}
