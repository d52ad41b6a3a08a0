package host

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// A checksum is a pin: the bytes the kernel executes are the bytes that
// were hashed. On Linux the host copies the binary into a sealed memfd
// (no write, grow or shrink can reach it any more), hashes the sealed
// copy and starts the plugin from it; on Windows it hashes the file
// through a handle that denies writes until the start is done; elsewhere
// it hashes the file before every start (see pinFile). docs/checksums.md
// has the reasoning and the measurements.

// pinLinger is how long a pinned copy is kept after its last start, so
// that a host starting a binary again and again (a client per build)
// pays the hash once rather than at every start.
const pinLinger = time.Minute

// pins are the pinned copies of binaries, by file and checksum.
var pins = &pinCache{m: map[pinKey]*pinEntry{}}

type pinKey struct {
	path string
	sum  [sha256.Size]byte
}

type pinCache struct {
	mu sync.Mutex
	m  map[pinKey]*pinEntry
}

type pinEntry struct {
	img   *image
	stamp fileStamp // the file's when it was copied
	timer *time.Timer
}

// pinFor returns a verified image of the binary cmd names whose SHA-256 is
// want, within ctx. A copy pinned before is used again while the file
// still has the identity it had when copied (a change the identity misses
// only means the previous, verified bytes run); otherwise the file is
// copied and hashed again. The image is valid until done is called.
func pinFor(ctx context.Context, cmd *exec.Cmd, want []byte) (img *image, done func(), err error) {
	path := cmd.Path
	if cmd.Dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(cmd.Dir, path) // where exec would find it
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	key := pinKey{path: abs}
	copy(key.sum[:], want)
	stamp, stamped := statStamp(abs)

	if stamped {
		pins.mu.Lock()
		if e, ok := pins.m[key]; ok && e.stamp == stamp {
			e.img.use()
			e.timer.Reset(pinLinger)
			pins.mu.Unlock()
			return e.img, e.img.unuse, nil
		}
		pins.mu.Unlock()
	}
	img, err = pinFile(ctx, path, want)
	if err != nil {
		return nil, nil, err
	}
	img.use()
	if !stamped || !img.held() {
		img.dropped() // nothing to keep: its last user closes it
		return img, img.unuse, nil
	}
	pins.mu.Lock()
	defer pins.mu.Unlock()
	if old, ok := pins.m[key]; ok {
		old.timer.Stop()
		old.img.dropped()
	}
	e := &pinEntry{img: img, stamp: stamp}
	e.timer = time.AfterFunc(pinLinger, func() {
		pins.mu.Lock()
		defer pins.mu.Unlock()
		if pins.m[key] == e {
			delete(pins.m, key)
			e.img.dropped()
		}
	})
	pins.m[key] = e
	return img, img.unuse, nil
}

// statStamp returns the identity of the file at path, if it has one.
func statStamp(path string) (fileStamp, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, false
	}
	return stampOf(fi)
}

// refs counts an image's users: the starts using it, and the cache while
// it keeps it. The last one closes it.
type refs struct {
	mu    sync.Mutex
	n     int
	close func()
}

func (r *refs) use() {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
}

func (r *refs) unuse() {
	r.mu.Lock()
	r.n--
	last := r.n == 0
	r.mu.Unlock()
	if last && r.close != nil {
		r.close()
	}
}

// dropped gives up the reference an image is made with: the cache's, or
// the maker's when nothing keeps it.
func (r *refs) dropped() { r.unuse() }
