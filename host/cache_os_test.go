package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/internal/wire"
)

// On every OS (Windows under Wine too): a binary whose file identity is
// unchanged is answered from the cache, which the test proves by planting
// a description no binary gives; touched or replaced, it is described
// again.
func TestDiscoverCacheIdentity(t *testing.T) {
	t.Parallel()
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	src := examplePlugin("plugin-demo") + exe
	dir, cacheDir := testutil.TempDir(t), testutil.TempDir(t)
	a, b := filepath.Join(dir, "plugin-a"+exe), filepath.Join(dir, "plugin-b"+exe)
	for _, p := range []string{a, b} {
		if err := copyFile(src, p); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // a file is remembered once its change time is a second old
	opts := host.DiscoverOptions{CacheDir: cacheDir}
	names := func() []string {
		t.Helper()
		cat, err := opts.Discover(context.Background(), "plugin-", dir)
		if err != nil {
			t.Fatal(err)
		}
		if s := cat.Skipped(); len(s) != 0 {
			t.Fatalf("skipped %v", s)
		}
		var ns []string
		for _, c := range cat.Components() {
			if c.Kind == "builder" {
				ns = append(ns, c.Name)
			}
		}
		return ns
	}
	want := []string{"a-file", "a-sleep", "b-file", "b-sleep"}
	if got := names(); !slices.Equal(got, want) {
		t.Fatalf("cold: builders %q, want %q", got, want)
	}

	// Plant a description in every entry.
	file := filepath.Join(cacheDir, "describe-v1.json")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cf map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // times in ns do not fit a float64
	if err := dec.Decode(&cf); err != nil {
		t.Fatal(err)
	}
	entries, _ := cf["entries"].(map[string]any)
	if len(entries) != 2 {
		t.Fatalf("the cache holds %d entries, want 2: %s", len(entries), raw)
	}
	for _, e := range entries {
		e.(map[string]any)["out"] = map[string]any{"version": "1.0.0", "protocol": int(wire.ProtocolVersion), "components": map[string]any{"builder": []string{"planted"}}}
	}
	if raw, err = json.Marshal(cf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, []string{"a-planted", "b-planted"}) {
		t.Fatalf("warm: builders %q, want the planted descriptions", got)
	}

	// a touched, b replaced by a copy renamed over it: both described.
	now := time.Now().Add(-time.Hour) // a time that is not the file's
	if err := os.Chtimes(a, now, now); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(src, b+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b+".new", b); err != nil {
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, want) {
		t.Errorf("touched and replaced: builders %q, want %q", got, want)
	}
}
