package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/plugwiretest"
)

// The local Communicator, served over the real wire, moves files whole,
// and leaves nothing behind when the reader fails or ctx ends.
func TestLocalCommunicator(t *testing.T) {
	comm := plugwiretest.Contract(t, contracts.Communicators, contracts.Communicator(Local{}))
	ctx := context.Background()
	dir := testutil.TempDir(t) // t.TempDir's RemoveAll fails under Wine

	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 5 << 20} {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		dst := filepath.Join(dir, "up")
		n, err := comm.Upload(ctx, dst, bytes.NewReader(data))
		if err != nil || n != int64(size) {
			t.Fatalf("Upload of %d bytes: %d, %v", size, n, err)
		}
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Upload of %d bytes wrote %d (%v)", size, len(got), err)
		}
		var buf bytes.Buffer
		n, err = comm.Download(ctx, dst, &buf)
		if err != nil || n != int64(size) || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("Download of %d bytes: %d, %v; got %d bytes", size, n, err, buf.Len())
		}
	}
	assertOnly(t, dir, "up")

	// A reader that fails mid-way: the method's error carries its text,
	// and dst stays as it was.
	broken := io.MultiReader(bytes.NewReader(make([]byte, 200<<10)), errReader{errors.New("disk on fire")})
	if _, err := comm.Upload(ctx, filepath.Join(dir, "up"), broken); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Upload from a failing reader: %v, want its error", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "up")); len(got) != 5<<20 {
		t.Errorf("a failed Upload changed dst: %d bytes", len(got))
	}

	// ctx ends mid-stream: Upload ends with context.Canceled, no partial file.
	cctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(make([]byte, 100<<10))
		cancel()
	}()
	if _, err := comm.Upload(cctx, filepath.Join(dir, "cancelled"), pr); !errors.Is(err, context.Canceled) {
		t.Errorf("Upload cancelled mid-stream: %v, want context.Canceled", err)
	}
	_ = pw.Close()

	// A writer that fails: Download returns its error.
	if _, err := comm.Download(ctx, filepath.Join(dir, "up"), errWriter{errors.New("no space left")}); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("Download to a failing writer: %v, want its error", err)
	}

	// The contract's sentinel crosses.
	if _, err := comm.Download(ctx, filepath.Join(dir, "nope"), io.Discard); !errors.Is(err, contracts.ErrNotFound) {
		t.Errorf("Download of a missing file: %v, want ErrNotFound", err)
	}
	assertOnly(t, dir, "up")
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// assertOnly checks that dir holds exactly the files named, in order.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	got, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	hidden, _ := filepath.Glob(filepath.Join(dir, ".*"))
	want := make([]string, len(names))
	for i, n := range names {
		want[i] = filepath.Join(dir, n)
	}
	if g := append(hidden, got...); !slices.Equal(g, want) {
		t.Errorf("%s holds %q, want %q", dir, g, want)
	}
}
