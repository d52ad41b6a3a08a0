package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/plugwire/plugwire/examples/contracts"
)

// Local is the communicator of the machine the plugin runs on: it moves
// files on the local file system. Relative paths are taken from the
// host's working directory, which the plugin shares.
type Local struct{}

// Upload writes what r yields to a temporary file beside dst and renames
// it to dst once r has ended; when ctx ends or r fails, it removes the
// temporary file and dst stays as it was.
func (Local) Upload(ctx context.Context, dst string, r io.Reader) (int64, error) {
	n, err := contracts.WriteFile(ctx, dst, func(w io.Writer) (int64, error) {
		return io.Copy(w, r)
	})
	if err != nil {
		return n, fmt.Errorf("upload to %s: %w", dst, err)
	}
	return n, nil
}

// Download writes src to w. The end of ctx ends it, also while src (a
// pipe, a device) makes it wait.
func (Local) Download(ctx context.Context, src string, w io.Writer) (int64, error) {
	f, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("download %s: %w", src, contracts.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return 0, fmt.Errorf("download %s: is a directory", src)
	}
	// Closing f ends a Read that waits for a pipe.
	stop := context.AfterFunc(ctx, func() { _ = f.Close() })
	defer stop()
	n, err := io.Copy(w, f)
	if ctx.Err() != nil {
		return n, fmt.Errorf("download %s: %w", src, ctx.Err())
	}
	if err != nil {
		return n, fmt.Errorf("download %s: %w", src, err)
	}
	return n, nil
}
