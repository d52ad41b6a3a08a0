package host_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

const demoSynopsis = "Say hello from a plugin set"

// A checksum pins the bytes that run. A write through a shared mapping to
// a page already dirty changes plugin-demo's bytes but not its identity
// (dev, inode, size, times): a client with the checksum still runs the
// verified bytes (or refuses the binary), never the changed ones, which a
// start without a checksum does run. The pinned process is named as its
// binary in ps, and its argv[0] is the path started.
func TestChecksumPinsWhatRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "plugin-demo")
	if err := copyFile(examplePlugin("plugin-demo"), path); err != nil {
		t.Fatal(err)
	}
	writeSidecar(t, path, "")
	cat, err := host.Discover(context.Background(), "plugin-", dir)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := cat.Lookup("command", "demo-hello")
	if err != nil || comp.SHA256 == "" {
		t.Fatalf("Lookup: %+v, %v; skipped %v", comp, err, cat.Skipped())
	}
	synopsis := func(c *host.Client) (string, error) {
		defer c.Kill()
		cmd, err := host.Dispense[shared.RemoteCommand](c, comp.Dispense)
		if err != nil {
			return "", err
		}
		return cmd.Synopsis(), nil
	}

	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(content, []byte(demoSynopsis))
	if at < 0 {
		t.Fatalf("%q not found in plugin-demo", demoSynopsis)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, len(content), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	unmapped := false
	unmap := func() {
		if !unmapped {
			unmapped = true
			_ = syscall.Munmap(mem)
		}
	}
	defer unmap()
	hello := at + len("Say ")
	mem[hello] = 'h' // the page is dirty now, its times updated

	// A start with the checksum: pinned, named as the binary.
	logger, sink := testLogger(hclog.Debug)
	c := comp.NewClient(&host.Config{Logger: logger})
	cmd, err := host.Dispense[shared.RemoteCommand](c, comp.Dispense)
	if err != nil {
		t.Fatal(err)
	}
	if s := cmd.Synopsis(); s != demoSynopsis {
		t.Fatalf("synopsis %q", s)
	}
	pid := int(sink.waitFor(t, 10*time.Second, "the start", msgIs("plugin started"))["pid"].(float64))
	proc := "/proc/" + strconv.Itoa(pid)
	if comm, _ := os.ReadFile(proc + "/comm"); strings.TrimSpace(string(comm)) != "plugin-demo" {
		t.Errorf("the process is named %q in ps, want plugin-demo", comm)
	}
	if args, _ := os.ReadFile(proc + "/cmdline"); !bytes.HasPrefix(args, []byte(path+"\x00")) {
		t.Errorf("argv %q, want argv[0] %s", args, path)
	}
	if exe, _ := os.Readlink(proc + "/exe"); !strings.HasPrefix(exe, "/memfd:plugin-demo") {
		t.Errorf("the process runs %q, want the sealed copy /memfd:plugin-demo", exe)
	}
	c.Kill()

	before, _ := os.Stat(path)
	copy(mem[hello:], "HELLO") // to a dirty page: no fault, no new time
	after, _ := os.Stat(path)
	same := before.ModTime().Equal(after.ModTime()) && before.Sys().(*syscall.Stat_t).Ctim == after.Sys().(*syscall.Stat_t).Ctim
	t.Logf("the write kept the file's identity: %v", same)

	s, err := synopsis(comp.NewClient(&host.Config{Logger: logger}))
	switch {
	case err == nil && s == demoSynopsis:
	case errors.Is(err, host.ErrChecksum) && !same:
	default:
		t.Errorf("a start with the checksum after the change: %q, %v; want %q (the verified bytes), or ErrChecksum had the identity changed", s, err, demoSynopsis)
	}

	// The change is real: the file, started as it is, says so.
	unmap()
	plain := exec.Command(path)
	s, err = synopsis(host.NewClient(&host.Config{Cmd: plain, Logger: logger, Plugins: nil}))
	if err != nil || s != "Say HELLO from a plugin set" {
		t.Errorf("started without a checksum: %q, %v; want the changed synopsis (else this test proves nothing)", s, err)
	}
	// And a start that hashes the file now refuses it.
	s, err = synopsis(host.NewClient(&host.Config{Cmd: exec.Command(path), SHA256: strings.Repeat("0", 64), Logger: logger}))
	if !errors.Is(err, host.ErrChecksum) {
		t.Errorf("a start with another checksum: %q, %v; want ErrChecksum", s, err)
	}
}

// Kill and Start's context stop the hash of a start in progress: a
// gigabyte whose checksum is wrong is not read to the end (which would
// fail with ErrChecksum); the start fails as killed or cancelled.
func TestHashingStopsWithTheStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "huge")
	if err := os.WriteFile(path, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 1<<30); err != nil { // sparse: nothing on disk
		t.Fatal(err)
	}
	for _, how := range []string{"kill", "cancel"} {
		t.Run(how, func(t *testing.T) {
			logger, sink := testLogger(hclog.Debug)
			c := host.NewClient(&host.Config{Cmd: exec.Command(path), SHA256: strings.Repeat("ab", 32), Logger: logger})
			defer c.Kill()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- c.Start(ctx) }()
			sink.waitFor(t, 10*time.Second, "the hash's start", msgIs("checking the binary's SHA-256 before its start"))
			var want error = context.Canceled
			if how == "kill" {
				c.Kill()
				want = host.ErrProcessExited
			} else {
				cancel()
			}
			err := <-errc
			if !errors.Is(err, want) || errors.Is(err, host.ErrChecksum) {
				t.Errorf("Start: %v, want %v (the hash stopped), not ErrChecksum", err, want)
			}
		})
	}
}
