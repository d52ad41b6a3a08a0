package host

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/plugwire/plugwire/internal/testutil"
)

// While a start holds the binary it hashed, nobody can write it, and a
// binary open for writing elsewhere is not started.
func TestPinDeniesWrites(t *testing.T) {
	dir := testutil.TempDir(t)
	path := filepath.Join(dir, "bin.exe")
	content := []byte("MZ not really a program")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	_, done, err := pinFor(context.Background(), exec.Command(path), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Error("the binary could be opened for writing while its start held it")
	}
	done() // as a start does once it has finished
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("opening for writing once the start let go: %v", err)
	}
	defer w.Close()
	if _, _, err := pinFor(context.Background(), exec.Command(path), sum[:]); err == nil {
		t.Error("a binary open for writing elsewhere was pinned")
	}
}
