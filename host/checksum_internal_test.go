package host

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// A verified binary is not read again while its stamp holds; any change
// to the file, its times or its place makes it read again.
func TestVerifiedHolds(t *testing.T) {
	dir := testutil.TempDir(t) // t.TempDir's RemoveAll fails under Wine
	path := filepath.Join(dir, "bin")
	content := []byte("#!/bin/sh\nexit 0\n")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	v, err := checkSHA256(path, sum[:])
	if err != nil || v != nil {
		t.Fatalf("a file just written: %v, %v; want it checked but not its stamp trusted", v, err)
	}
	later := time.Now().Add(time.Minute) // as if checked once the file was left alone
	v, err = checkSHA256At(path, sum[:], later)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi != nil {
		if _, ok := stampOf(fi); !ok {
			if v != nil {
				t.Fatal("verified without a stamp")
			}
			t.Skip("no file stamp on this system: every start hashes the binary")
		}
	}
	if !v.holds(path, sum[:]) {
		t.Fatal("does not hold for the file it verified")
	}
	other := sha256.Sum256([]byte("other"))
	if v.holds(path, other[:]) || v.holds(path+"x", sum[:]) {
		t.Error("holds for another sum or path")
	}
	for _, change := range []struct {
		name string
		f    func() error
	}{
		{"same times set again", func() error {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			return os.Chtimes(path, fi.ModTime(), fi.ModTime())
		}},
		{"rewritten in place", func() error { return os.WriteFile(path, content, 0o755) }},
		{"replaced by a copy", func() error {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, content, 0o755); err != nil {
				return err
			}
			return os.Rename(tmp, path)
		}},
		{"mode changed", func() error { return os.Chmod(path, 0o700) }},
	} {
		v, err := checkSHA256At(path, sum[:], later)
		if err != nil || v == nil {
			t.Fatalf("%s: checkSHA256 = %v, %v", change.name, v, err)
		}
		waitClockPast(t, dir, v.stamp.ctime)
		if err := change.f(); err != nil {
			t.Fatal(err)
		}
		if v.holds(path, sum[:]) {
			t.Errorf("%s: still holds", change.name)
		}
	}
}

// waitClockPast waits until the file system's clock gives a change time
// after ctime, as it does for a file left alone for stampQuiet.
func waitClockPast(t *testing.T, dir string, ctime int64) {
	t.Helper()
	probe := filepath.Join(dir, "probe")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(probe)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := stampOf(fi); st.ctime > ctime {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system's clock did not move in 5 s")
		}
		time.Sleep(time.Millisecond) // polling a real condition
	}
}
