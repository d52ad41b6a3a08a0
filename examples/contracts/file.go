package contracts

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes path with what fill writes, all or nothing: fill
// writes into a temporary file beside path, which is renamed to path when
// fill returns nil and ctx has not ended, and removed otherwise. Both
// sides of the examples use it: the local Communicator's Upload, and the
// host's download.
func WriteFile(ctx context.Context, path string, fill func(w io.Writer) (int64, error)) (n int64, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if n, err = fill(f); err != nil {
		return n, err
	}
	if err = ctx.Err(); err != nil {
		return n, err
	}
	// CreateTemp's file is for its owner alone; the file written is not.
	if err = f.Chmod(0o644); err != nil {
		return n, err
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return n, err
	}
	return n, nil
}
