package host

import (
	"os"
	"syscall"
)

// stampOf returns the identity of the file fi describes: device, inode,
// size, and modification and change times. The change time cannot be set
// by a program, so any write to the file, or any other file put in its
// place, gives another stamp.
func stampOf(fi os.FileInfo) (fileStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}, false
	}
	return fileStamp{
		dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtimespec.Nano(), ctime: st.Ctimespec.Nano(),
	}, true
}
