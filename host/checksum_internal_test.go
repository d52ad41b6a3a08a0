package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/plugwire/plugwire/internal/testutil"
)

// A hash under a context that has ended stops at once with the context's
// error: Discover's sidecar check and a start's pin both run under one.
func TestHashingStopsWithItsContext(t *testing.T) {
	dir := testutil.TempDir(t) // t.TempDir's RemoveAll fails under Wine
	path := filepath.Join(dir, "big")
	if err := os.WriteFile(path, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 64<<20); err != nil { // sparse: nothing on disk
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("not the file's"))
	if err := os.WriteFile(path+SidecarSuffix, []byte(hexSum(sum)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := checkSidecar(ctx, path, false); !errors.Is(err, context.Canceled) || errors.Is(err, ErrChecksum) {
		t.Errorf("checkSidecar under an ended context: %v, want context.Canceled", err)
	}
	if _, _, err := pinFor(ctx, exec.Command(path), sum[:]); !errors.Is(err, context.Canceled) || errors.Is(err, ErrChecksum) {
		t.Errorf("pinFor under an ended context: %v, want context.Canceled", err)
	}
	if _, err := checkSidecar(context.Background(), path, false); !errors.Is(err, ErrChecksum) {
		t.Errorf("checkSidecar: %v, want ErrChecksum", err)
	}
}

// A pinned copy is used again while the file keeps its identity, and
// made again (hashed again) once the file changed.
func TestPinReused(t *testing.T) {
	dir := testutil.TempDir(t)
	path := filepath.Join(dir, "bin")
	content := []byte("#!/bin/sh\nexit 0\n")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	ctx := context.Background()
	a, doneA, err := pinFor(ctx, exec.Command(path), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	b, doneB, err := pinFor(ctx, exec.Command(path), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if a.held() && a != b {
		t.Error("the file did not change, yet it was pinned again")
	}
	// Done with both (on Windows an image denies writes to the file
	// until then); the cache keeps a held copy.
	doneA()
	doneB()
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 1 # longer\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pinFor(ctx, exec.Command(path), sum[:]); !errors.Is(err, ErrChecksum) {
		t.Errorf("after a write: %v, want ErrChecksum", err)
	}
}

func hexSum(s [sha256.Size]byte) string { return hex.EncodeToString(s[:]) }

// BenchmarkPinCost compares what a start with a checksum pays before
// exec: hashing the file in place ("hash", what a start does where there
// is no memfd) with copying it into a sealed memfd and hashing the copy
// ("pin", Linux); on a 16 MiB binary.
func BenchmarkPinCost(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bin")
	content := make([]byte, 16<<20)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, content, 0o755); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(content)
	ctx := context.Background()
	b.Run("hash", func(b *testing.B) {
		b.SetBytes(int64(len(content)))
		for b.Loop() {
			if err := checkSHA256(ctx, path, sum[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pin", func(b *testing.B) {
		b.SetBytes(int64(len(content)))
		for b.Loop() {
			img, err := pinFile(ctx, path, sum[:])
			if err != nil {
				b.Fatal(err)
			}
			img.dropped()
		}
	})
}
