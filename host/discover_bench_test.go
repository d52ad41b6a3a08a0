package host_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// BenchmarkDescribe runs "plugin-demo describe": the cost of learning
// what a binary serves, to compare with BenchmarkStartToAddress.
func BenchmarkDescribe(b *testing.B) {
	path := examplePlugin("plugin-demo")
	for b.Loop() {
		if _, err := host.Describe(context.Background(), path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartToAddress starts plugin-demo as a host does and reads its
// address line (the process is then killed, outside the timing).
func BenchmarkStartToAddress(b *testing.B) {
	path := examplePlugin("plugin-demo")
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env := append(os.Environ(),
		"PACKER_PLUGIN_MIN_PORT=10000", "PACKER_PLUGIN_MAX_PORT=25000",
		"PLUGWIRE_SECRET="+hex.EncodeToString(secret))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(path)
		cmd.Env = env
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.StartTimer()
	}
}

// BenchmarkDiscover50 discovers 50 plugin binaries (links to plugin-demo
// under 50 names, one of them a copy) in one directory, without and with
// sidecar checksums: cold (no cache), one by one (Parallel 1, no cache),
// warm (every binary remembered) and one changed (the copy touched before
// each Discover: described and hashed again, the others remembered).
func BenchmarkDiscover50(b *testing.B) {
	src := examplePlugin("plugin-demo")
	d, err := host.Describe(context.Background(), src)
	if err != nil {
		b.Fatal(err)
	}
	want := 0
	for _, names := range d.Components {
		want += 50 * len(names)
	}
	for _, sums := range []bool{false, true} {
		dir := b.TempDir()
		var first string
		for i := range 50 {
			dst := filepath.Join(dir, fmt.Sprintf("plugin-demo%02d", i))
			link := linkOrCopy
			if i == 0 {
				first, link = dst, copyFile
			}
			if err := link(src, dst); err != nil {
				b.Fatal(err)
			}
			if sums {
				writeSum(b, dst)
			}
		}
		// A file is remembered once its change time is a second old.
		time.Sleep(1100 * time.Millisecond)
		cacheDir := b.TempDir()
		for _, run := range []struct {
			name string
			opts host.DiscoverOptions
			each func()
		}{
			{"cold", host.DiscoverOptions{NoCache: true}, nil},
			{"one-by-one", host.DiscoverOptions{NoCache: true, Parallel: 1}, nil},
			{"warm", host.DiscoverOptions{CacheDir: cacheDir}, nil},
			{"one-changed", host.DiscoverOptions{CacheDir: cacheDir}, func() {
				now := time.Now()
				if err := os.Chtimes(first, now, now); err != nil {
					b.Fatal(err)
				}
				// Changed a while ago: Discover waits for a binary
				// changed in the last 50 ms.
				time.Sleep(60 * time.Millisecond)
			}},
		} {
			b.Run(fmt.Sprintf("checksums=%v/%s", sums, run.name), func(b *testing.B) {
				opts := run.opts
				opts.RequireChecksum = sums
				discover := func() {
					cat, err := opts.Discover(context.Background(), "plugin-", dir)
					if err != nil {
						b.Fatal(err)
					}
					if n := len(cat.Components()); n != want || len(cat.Skipped()) != 0 {
						b.Fatalf("found %d components (want %d), skipped %v", n, want, cat.Skipped())
					}
				}
				if !opts.NoCache {
					discover() // the cache holds every binary
				}
				for b.Loop() {
					if run.each != nil {
						b.StopTimer()
						run.each()
						b.StartTimer()
					}
					discover()
				}
			})
		}
	}
}

// BenchmarkStartChecksum is start to first dispense of plugin-demo with
// no checksum; with Config.SHA256 when the binary is copied into a sealed
// memfd and hashed at this start ("pin", on Linux; elsewhere the file is
// hashed in place before every start), and when the copy pinned by an
// earlier start is used again ("pinned"); and through a Component found
// with a sidecar checksum (which pins as Config.SHA256 does).
func BenchmarkStartChecksum(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "plugin-demo")
	if err := copyFile(examplePlugin("plugin-demo"), path); err != nil {
		b.Fatal(err)
	}
	sum := fileSum(b, path)
	writeSum(b, path)
	cat, err := host.Discover(context.Background(), "plugin-", dir)
	if err != nil {
		b.Fatal(err)
	}
	comp, err := cat.Lookup("builder", "demo-sleep")
	if err != nil {
		b.Fatal(err)
	}
	for _, how := range []string{"none", "pin", "pinned", "Component"} {
		b.Run(how, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if how == "pin" {
					// A new modification time: the copy is made again.
					b.StopTimer()
					t := time.Now().Add(time.Duration(i) * time.Second)
					if err := os.Chtimes(path, t, t); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				cfg := &host.Config{Logger: hclog.NewNullLogger(), Cmd: exec.Command(path)}
				var c *host.Client
				switch how {
				case "none":
					c = host.NewClient(cfg)
				case "pin", "pinned":
					cfg.SHA256 = sum
					c = host.NewClient(cfg)
				case "Component":
					c = comp.NewClient(cfg)
				}
				if _, err := host.Dispense[shared.Builder](c, "builder/sleep"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Kill()
				b.StartTimer()
			}
		})
	}
}

func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	return copyFile(src, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func fileSum(b *testing.B, path string) string {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeSum(b *testing.B, path string) {
	b.Helper()
	if err := os.WriteFile(path+host.SidecarSuffix, []byte(fileSum(b, path)+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
}
