package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/windows"
)

// image is a binary hashed through a handle that lets nobody else write,
// delete or rename the file while the host holds it: from before the hash
// until the start has finished, so that what the loader maps is what was
// hashed.
type image struct {
	refs
}

func (*image) held() bool { return false }

// pinFile opens the file at path sharing it for reading only (an open for
// writing elsewhere makes this fail; while it is held, any other fails),
// hashes it and compares the sum with want, within ctx.
func pinFile(ctx context.Context, path string, want []byte) (*image, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: another program has it open for writing: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(h), path)
	got, err := hashReader(ctx, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	if !bytes.Equal(got, want) {
		f.Close()
		return nil, sumMismatch(path, got, want)
	}
	return &image{refs: refs{n: 1, close: func() { _ = f.Close() }}}, nil
}

// prepare leaves cmd as it is: the file starts, under the handle the
// start holds until it has finished (not until the process ends, so that
// the running binary can be renamed aside, as updaters do).
func (img *image) prepare(*exec.Cmd) (done func(), err error) {
	return func() {}, nil
}
