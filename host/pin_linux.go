package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// image is a binary's verified bytes: a sealed memfd holding the copy
// that was hashed, from which the plugin is started; or, where memfds or
// /proc are not at hand, the file itself, hashed just before the start.
type image struct {
	refs
	f      *os.File // the sealed memfd; nil for the file itself
	name   string   // the binary's base name
	script bool     // it starts with "#!"
}

// held reports whether the image holds the bytes itself, so that a cache
// of it is worth keeping.
func (img *image) held() bool { return img.f != nil }

// copyChunk is how much pinFile copies between looks at its context.
const copyChunk = 8 << 20

// pinFile copies the file at path into a memfd, seals it against any
// change (write, grow, shrink, further seals), hashes the sealed copy and
// compares the sum with want, within ctx.
func pinFile(ctx context.Context, path string, want []byte) (*image, error) {
	name := filepath.Base(path)
	fail := func(err error) (*image, error) {
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return hashedFile(ctx, path, want)
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return fail(err)
	} else if !fi.Mode().IsRegular() {
		return fail(fmt.Errorf("%s is not a regular file", path))
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return hashedFile(ctx, path, want) // a kernel before 3.17, or a sandbox
	}
	m := os.NewFile(uintptr(fd), "memfd:"+name)
	img := &image{f: m, name: name}
	img.refs = refs{n: 1, close: func() { _ = m.Close() }}
	ok := false
	defer func() {
		if !ok {
			_ = m.Close()
		}
	}()
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		n, err := io.CopyN(m, f, copyChunk)
		size += n
		if err == io.EOF || err == nil && n < copyChunk {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(m.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		return fail(fmt.Errorf("sealing the copy: %w", err))
	}
	got, err := hashReader(ctx, io.NewSectionReader(m, 0, size))
	if err != nil {
		return fail(err)
	}
	if !bytes.Equal(got, want) {
		return nil, sumMismatch(path, got, want)
	}
	var magic [2]byte
	_, _ = m.ReadAt(magic[:], 0)
	img.script = string(magic[:]) == "#!"
	ok = true
	return img, nil
}

// hashedFile is the image of a file hashed in place.
func hashedFile(ctx context.Context, path string, want []byte) (*image, error) {
	if err := checkSHA256(ctx, path, want); err != nil {
		return nil, err
	}
	return &image{refs: refs{n: 1}, name: filepath.Base(path)}, nil
}

// prepare makes cmd start the image: its Path becomes a link, named as
// the binary (the process's name in ps and top comes from it), to the
// memfd as the child sees it in /proc/self/fd. The link is kept until
// done, which the host calls once the process is reaped: a script's
// interpreter opens it after the exec.
func (img *image) prepare(cmd *exec.Cmd) (done func(), err error) {
	img.use()
	if img.f == nil {
		return img.unuse, nil
	}
	var child int
	var dup *os.File
	if img.script {
		// The interpreter reads the script after the exec, so the child
		// keeps the descriptor: it is passed as the last ExtraFiles.
		cmd.ExtraFiles = append(cmd.ExtraFiles, img.f)
		child = 2 + len(cmd.ExtraFiles)
	} else {
		// A close-on-exec copy above the numbers the child's descriptors
		// are moved through before the exec (os/exec puts ExtraFiles at
		// 3.., and moves those in the way above their count).
		n, err := unix.FcntlInt(img.f.Fd(), unix.F_DUPFD_CLOEXEC, 2*(3+len(cmd.ExtraFiles))+3)
		if err != nil {
			img.unuse()
			return nil, fmt.Errorf("host: starting %s from its verified copy: %w", img.name, err)
		}
		dup = os.NewFile(uintptr(n), "memfd:"+img.name)
		child = n
	}
	dir, err := os.MkdirTemp("", "plugwire-exec-")
	if err == nil {
		err = os.Symlink("/proc/self/fd/"+strconv.Itoa(child), filepath.Join(dir, img.name))
	}
	done = func() {
		if dup != nil {
			_ = dup.Close()
		}
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
		img.unuse()
	}
	if err != nil {
		done()
		return nil, fmt.Errorf("host: starting %s from its verified copy: %w", img.name, err)
	}
	cmd.Path = filepath.Join(dir, img.name)
	return done, nil
}
