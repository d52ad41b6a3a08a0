package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/testutil"
	"github.com/plugwire/plugwire/shared"
)

// The host starts a copy of Config.Cmd: after a start, the caller's Cmd
// has the Env, ExtraFiles, Stdin, Stdout, SysProcAttr and Args it had, no
// Process, and nowhere the launch's secret; and it can be given to
// another Client.
func TestConfigCmdNotChanged(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cmd := helperCmd("serve")
	extra := 0
	if runtime.GOOS != "windows" { // os/exec passes no ExtraFiles there
		cmd.ExtraFiles = []*os.File{r}
		extra = 1
	}
	cmd.Env = slices.Clip(cmd.Env)
	cmd.ExtraFiles = slices.Clip(cmd.ExtraFiles)
	envBefore := slices.Clone(cmd.Env)
	argsBefore := slices.Clone(cmd.Args)
	var attrBefore any
	if cmd.SysProcAttr != nil {
		attrBefore = *cmd.SysProcAttr
	}
	exe, err := os.ReadFile(testExe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(exe)
	for i := range 2 {
		cfg := &host.Config{Cmd: cmd, Logger: helperLogger()}
		if i == 1 {
			// Started from its verified copy (Linux), or under a handle
			// that denies writes (Windows): the Cmd is left alone too.
			cfg.SHA256 = hex.EncodeToString(sum[:])
		}
		c := host.NewClient(cfg)
		if err := c.Start(context.Background()); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		if _, err := c.Builder(); err != nil {
			t.Fatalf("start %d: Builder: %v", i+1, err)
		}
		c.Kill()
		if !slices.Equal(cmd.Env, envBefore) {
			t.Errorf("start %d changed Cmd.Env: %q", i+1, cmd.Env)
		}
		for _, kv := range cmd.Env {
			if strings.HasPrefix(kv, "PLUGWIRE_SECRET=") || strings.HasPrefix(kv, "PLUGWIRE_LIFELINE=") {
				t.Errorf("start %d: Cmd.Env holds %q", i+1, kv)
			}
		}
		if len(cmd.ExtraFiles) != extra || cap(cmd.ExtraFiles) != extra || extra == 1 && cmd.ExtraFiles[0] != r {
			t.Errorf("start %d changed Cmd.ExtraFiles: %v", i+1, cmd.ExtraFiles)
		}
		if !slices.Equal(cmd.Args, argsBefore) {
			t.Errorf("start %d changed Cmd.Args: %q", i+1, cmd.Args)
		}
		var attr any
		if cmd.SysProcAttr != nil {
			attr = *cmd.SysProcAttr
		}
		if !reflect.DeepEqual(attr, attrBefore) {
			t.Errorf("start %d changed Cmd.SysProcAttr: %+v", i+1, attr)
		}
		if cmd.Stdin != nil || cmd.Stdout != nil || cmd.Stderr != nil || cmd.Process != nil || cmd.ProcessState != nil {
			t.Errorf("start %d set Cmd's streams or process: %+v", i+1, cmd)
		}
	}
}

// Discover given a relative directory ("." or "dir") finds the binary
// there, and its Component's client runs that file: never a program of
// the same name in PATH, which holds a decoy here.
func TestRelativeDirRunsFoundFile(t *testing.T) {
	src := examplePlugin("plugin-demo")
	name := "plugin-demo"
	if runtime.GOOS == "windows" {
		src, name = src+".exe", name+".exe"
	}
	tmp := testutil.TempDir(t) // t.TempDir's RemoveAll fails under Wine
	t.Chdir(tmp)
	if err := os.Mkdir("dir", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{name, filepath.Join("dir", name)} {
		if err := copyFile(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(tmp, "decoy-ran")
	if runtime.GOOS != "windows" {
		decoys := filepath.Join(tmp, "decoys")
		if err := os.Mkdir(decoys, 0o755); err != nil {
			t.Fatal(err)
		}
		// No other test runs beside this one (t.Chdir): no fork can hold
		// the file open for writing when it is run (ETXTBSY).
		if err := os.WriteFile(filepath.Join(decoys, name), []byte("#!/bin/sh\ntouch '"+marker+"'; exit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", decoys+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	for _, dir := range []string{".", "dir", "./dir"} {
		cat, err := host.Discover(context.Background(), "plugin-", dir)
		if err != nil {
			t.Fatal(err)
		}
		comp, err := cat.Lookup("command", "demo-hello")
		if err != nil {
			t.Fatalf("Discover(%q): %v; skipped %v", dir, err, cat.Skipped())
		}
		c := comp.NewClient(&host.Config{Logger: helperLogger()})
		cmd, err := host.Dispense[shared.RemoteCommand](c, comp.Dispense)
		if err != nil {
			t.Fatalf("Discover(%q): %v", dir, err)
		}
		if s := cmd.Synopsis(); s != "Say hello from a plugin set" {
			t.Errorf("Discover(%q): synopsis %q", dir, s)
		}
		c.Kill()
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("Discover(%q): the decoy in PATH ran", dir)
		}
	}
	// What exec.Command does with the bare name: the decoy, as the issue
	// says (a check that the test's PATH would have caught the bug).
	if runtime.GOOS != "windows" {
		_ = exec.Command(name).Run()
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("the decoy did not run from PATH either: the test proves nothing: %v", err)
		}
	}
}

// A host that offers debugging asks for the plugin in debug mode that
// PLUGWIRE_REATTACH names for its binary, and starts the binary when
// there is none.
func ExampleLookupReattach() {
	cmd := exec.Command(examplePlugin("builder-noop"))
	r, err := host.LookupReattach(cmd) // nil, nil: PLUGWIRE_REATTACH is not set here
	if err != nil {
		fmt.Println(err) // wraps host.ErrBadReattach
		return
	}
	c := host.NewClient(&host.Config{Cmd: cmd, Reattach: r})
	defer c.Kill()
	_, err = c.Builder()
	fmt.Println("reattached:", r != nil, "error:", err)
	// Output: reattached: false error: <nil>
}
