package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/plugwiretest"
)

// The upload provisioner, served over the real wire, uploads through the
// Communicator its caller serves back to it (a callback carrying a
// stream), and talks through the caller's Ui.
func TestUploadProvisioner(t *testing.T) {
	prov := plugwiretest.Contract(t, contracts.Provisioners, contracts.Provisioner(Upload{}))
	dir := testutil.TempDir(t) // t.TempDir's RemoveAll fails under Wine
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	data := strings.Repeat("provisioned\n", 50000)
	if err := os.WriteFile(src, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ui := &recordingUi{}
	ctx := context.Background()
	err := prov.Provision(ctx, ui, Local{}, map[string]any{"type": "upload", "source": src, "destination": dst})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || string(got) != data {
		t.Fatalf("dst holds %d bytes (%v), want %d", len(got), err, len(data))
	}
	want := fmt.Sprintf("upload: uploading %s to %s\nupload: uploaded %d bytes to %s\n", src, dst, len(data), dst)
	if got := ui.String(); got != want {
		t.Errorf("Ui got %q, want %q", got, want)
	}

	for _, tc := range []struct {
		config map[string]any
		want   string
	}{
		{map[string]any{"source": src}, `"source" and "destination" are required`},
		{map[string]any{"source": src, "destination": dst, "mode": 1}, "mode: unknown key"},
		{map[string]any{"source": filepath.Join(dir, "nope"), "destination": dst}, "open " + filepath.Join(dir, "nope") + ": "},
		{map[string]any{"source": src, "destination": filepath.Join(dir, "no-dir", "x")}, "upload to " + filepath.Join(dir, "no-dir", "x")},
	} {
		if err := prov.Provision(ctx, ui, Local{}, tc.config); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Provision(%v): %v, want an error with %q", tc.config, err, tc.want)
		}
	}
	if err := prov.Provision(ctx, ui, nil, map[string]any{"source": src, "destination": dst}); err == nil || !strings.Contains(err.Error(), "no communicator") {
		t.Errorf("Provision without a communicator: %v", err)
	}
}

// recordingUi keeps what it is told.
type recordingUi struct {
	mu sync.Mutex
	b  strings.Builder
}

func (u *recordingUi) Say(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(&u.b, format+"\n", a...)
}

func (u *recordingUi) Error(format string, a ...any) { u.Say("error: "+format, a...) }

func (u *recordingUi) String() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.b.String()
}
