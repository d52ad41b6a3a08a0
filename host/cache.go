package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The describe cache: one JSON file in a directory of the user's cache,
// holding per binary (by absolute path) the identity the file had when it
// was described, what describe printed or why it failed, and the SHA-256
// its sidecar check computed. Discover reads it once and writes it once,
// only when it learnt something; see docs/discovery.md.
const (
	cacheFormat      = 1                  // the file's format; a file of another is ignored and rewritten
	cacheFileName    = "describe-v1.json" // in DiscoverOptions.CacheDir
	cacheLockName    = "describe-v1.lock" // held by a writer while it merges
	cacheTempPattern = "describe-*.tmp"   // a writer's file before its rename
	cacheSubdir      = "plugwire"         // of os.UserCacheDir()
	maxCacheFile     = 64 << 20           // a larger file is not read
	cacheLockWait    = 2 * time.Second    // how long a writer waits for another
)

// userCacheDir is os.UserCacheDir; tests replace it so that they never
// touch the user's own cache.
var userCacheDir = os.UserCacheDir

// cacheFile is the cache file's content.
type cacheFile struct {
	Format  int                    `json:"format"`
	Entries map[string]*cacheEntry `json:"entries"` // by absolute path
}

// cacheEntry is what discovery learnt about one binary while the file had
// the identity in its first fields.
type cacheEntry struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`

	At     int64           `json:"at"`               // when it was described or hashed, Unix ns
	SHA256 string          `json:"sha256,omitempty"` // the file's, when a sidecar check hashed it
	Out    json.RawMessage `json:"out,omitempty"`    // what describe printed, when it succeeded
	Err    string          `json:"err,omitempty"`    // its failure's text after "host: PATH "
	Is     []string        `json:"is,omitempty"`     // what the failure wraps (cachedCauses)
	// Timeout is the bound of a describe that ran out of time (ns): a
	// Discover with a longer one describes the binary again.
	Timeout int64 `json:"timeout,omitempty"`
}

func (e *cacheEntry) stamp() fileStamp {
	return fileStamp{dev: e.Dev, ino: e.Ino, size: e.Size, mtime: e.Mtime, ctime: e.Ctime}
}

// cachedCauses are the causes a cached describe failure may wrap, by the
// name the file gives them.
var cachedCauses = []struct {
	name string
	err  error
}{
	{"not-plugin", ErrNotPlugin},
	{"process-exited", ErrProcessExited},
	{"timeout", errDescribeTimeout},
}

// cacheable reports whether a describe that failed with err failed by the
// binary's own doing, so that it fails again until the file changes.
func cacheable(err error) bool {
	return errors.Is(err, ErrNotPlugin)
}

// setFailure records err, a describe failure of the binary at path.
func (e *cacheEntry) setFailure(path string, err error, timeout time.Duration) {
	e.Out = nil
	e.Err = strings.TrimPrefix(err.Error(), "host: "+path+" ")
	e.Is = nil
	for _, c := range cachedCauses {
		if errors.Is(err, c.err) {
			e.Is = append(e.Is, c.name)
		}
	}
	if errors.Is(err, errDescribeTimeout) {
		e.Timeout = int64(timeout)
	}
}

// since says where a result came from, for an error's text.
func (e *cacheEntry) since(what string) string {
	return fmt.Sprintf("remembered from %s it at %s; the file has not changed since",
		what, time.Unix(0, e.At).UTC().Format(time.DateTime+" UTC"))
}

// outcome is the description or the failure the entry holds for the
// binary at path, and whether it holds one that is good for a describe
// bounded by timeout.
func (e *cacheEntry) outcome(path string, timeout time.Duration) (*Description, error, bool) {
	if e.Out != nil {
		d, err := parseDescription(path, e.Out)
		return d, nil, err == nil
	}
	if e.Err == "" {
		return nil, nil, false
	}
	de := &describeError{}
	for _, name := range e.Is {
		known := false
		for _, c := range cachedCauses {
			if c.name == name {
				de.errs, known = append(de.errs, c.err), true
			}
		}
		if !known {
			return nil, nil, false
		}
	}
	if len(de.errs) == 0 {
		return nil, nil, false
	}
	note := e.since("describing")
	if errors.Is(de, errDescribeTimeout) {
		again := time.Unix(0, e.At).Add(timeoutRetry)
		if int64(timeout) > e.Timeout || !time.Now().Before(again) {
			return nil, nil, false
		}
		note += "; tried again from " + again.UTC().Format(time.DateTime+" UTC") + ", or with a longer DescribeTimeout"
	}
	de.msg = "host: " + path + " " + e.Err + " (" + note + ")"
	return nil, de, true
}

// timeoutRetry is how long a describe that ran out of time is remembered
// for an unchanged file: a binary that hangs costs its timeout once an
// hour at most, and a plugin that was only starved of CPU by a loaded
// machine is not lost until someone touches it.
const timeoutRetry = time.Hour

// describeCache is the cache as one Discover uses it.
type describeCache struct {
	dir     string
	entries map[string]*cacheEntry // as read; not changed
	rewrite bool                   // the file could not be used: write it anew

	mu       sync.Mutex
	problems []string // for the one Debug line
}

// openCache reads the cache of o, or returns nil when o turns it off.
func (o DiscoverOptions) openCache() *describeCache {
	if o.NoCache {
		return nil
	}
	dc := &describeCache{dir: o.CacheDir}
	if dc.dir == "" {
		base, err := userCacheDir()
		if err != nil {
			dc.problem("no user cache directory: %v", err)
			dc.log(o.Logger)
			return nil
		}
		dc.dir = filepath.Join(base, cacheSubdir)
	}
	var err error
	dc.entries, err = readCache(filepath.Join(dc.dir, cacheFileName))
	if err != nil {
		dc.problem("%v", err)
		dc.rewrite = true
	}
	return dc
}

// readCache reads the cache file at path: none when it does not exist.
func readCache(path string) (map[string]*cacheEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if fi, err := f.Stat(); err == nil && fi.Size() > maxCacheFile {
		return nil, fmt.Errorf("%s holds %d bytes, more than %d", path, fi.Size(), maxCacheFile)
	}
	if _, err := b.ReadFrom(f); err != nil {
		return nil, err
	}
	var cf cacheFile
	if err := json.Unmarshal(b.Bytes(), &cf); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %v", path, err)
	}
	if cf.Format != cacheFormat {
		return nil, fmt.Errorf("%s is of format %d, this host reads %d", path, cf.Format, cacheFormat)
	}
	for k, e := range cf.Entries {
		if e == nil {
			delete(cf.Entries, k)
		}
	}
	return cf.Entries, nil
}

func (dc *describeCache) problem(format string, a ...any) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.problems = append(dc.problems, fmt.Sprintf(format, a...))
}

// lookup returns the entry of the binary at abs if it still has stamp st.
func (dc *describeCache) lookup(abs string, st fileStamp) *cacheEntry {
	if e := dc.entries[abs]; e != nil && e.stamp() == st {
		return e
	}
	return nil
}

// describe is the package's describe for candidate c, answered from the
// cache where the file has not changed since; what it learnt anew goes
// into c.rec, for save.
func (dc *describeCache) describe(ctx context.Context, c *candidate, timeout time.Duration, requireSum bool) (*Description, *sidecarSum, error) {
	now := time.Now()
	st, ok := cacheStamp(c.path, c.fi)
	if !ok || c.abs == "" {
		return describe(ctx, c.path, timeout, requireSum)
	}
	if wait := time.Unix(0, st.ctime).Add(quietFor(st)).Sub(now); wait > 0 && wait <= cacheQuiet {
		// Just written: wait for it to settle, so that what is described
		// can be remembered.
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("host: %s describe: %w", c.path, ctx.Err())
		}
		fi, err := os.Stat(c.path)
		if err != nil {
			return describe(ctx, c.path, timeout, requireSum)
		}
		now = time.Now()
		if st, ok = cacheStamp(c.path, fi); !ok {
			return describe(ctx, c.path, timeout, requireSum)
		}
	}
	hit := dc.lookup(c.abs, st)
	rec := &cacheEntry{Dev: st.dev, Ino: st.ino, Size: st.size, Mtime: st.mtime, Ctime: st.ctime, At: now.UnixNano()}
	learnt := false

	want, side, err := readSidecar(c.path, requireSum)
	if err != nil {
		return nil, nil, err
	}
	var ss *sidecarSum
	if want != nil {
		sum := hex.EncodeToString(want)
		if hit != nil && hit.SHA256 != "" {
			if hit.SHA256 != sum {
				got, _ := hex.DecodeString(hit.SHA256)
				return nil, nil, fmt.Errorf("%w (from %s; its SHA-256 %s)", sumMismatch(c.path, got, want), side, hit.since("hashing"))
			}
			// What a client starts is checked at its start.
			ss = &sidecarSum{hex: sum}
		} else {
			if err := checkSHA256(ctx, c.path, want); err != nil {
				return nil, nil, fmt.Errorf("%w (from %s)", err, side)
			}
			ss = &sidecarSum{hex: sum}
			learnt = true
		}
		rec.SHA256 = sum
	}

	var d *Description
	if hit != nil {
		var ok bool
		if d, err, ok = hit.outcome(c.path, timeout); ok {
			if !learnt {
				return d, ss, err
			}
			rec.Out, rec.Err, rec.Is, rec.Timeout = hit.Out, hit.Err, hit.Is, hit.Timeout
			c.keep(rec, st, now)
			return d, ss, err
		}
	}
	out, err := runDescribe(ctx, c.path, timeout)
	if err == nil {
		d, err = parseDescription(c.path, out)
	}
	switch {
	case err == nil:
		rec.Out = bytes.TrimSpace(out)
	case cacheable(err) && ctx.Err() == nil:
		rec.setFailure(c.path, err, timeout)
	default:
		return d, ss, err
	}
	c.keep(rec, st, now)
	return d, ss, err
}

// cacheQuiet is how long after its last change a file's stamp counts on
// a file system with sub-second times: they come from a clock that moves
// by ticks (up to 10 ms on Linux, 15.6 ms on Windows), so a change within
// the same tick as the one before keeps the same times.
const cacheQuiet = 50 * time.Millisecond

// quietFor is how long after its last change the stamp st counts: a
// change time in whole seconds is that of a file system with coarse times
// (FAT's are 2 s).
func quietFor(st fileStamp) time.Duration {
	if st.ctime%int64(time.Second) == 0 {
		return 2 * time.Second
	}
	return cacheQuiet
}

// keep sets c.rec to rec when the file still has stamp st, taken at now,
// and st was old enough then to tell any later change (quietFor).
func (c *candidate) keep(rec *cacheEntry, st fileStamp, now time.Time) {
	if now.Sub(time.Unix(0, st.ctime)) < quietFor(st) {
		return
	}
	fi, err := os.Stat(c.path)
	if err != nil {
		return
	}
	if after, ok := cacheStamp(c.path, fi); ok && after == st {
		c.rec = rec
	}
}

// save writes what cands learnt into the cache file, merged with what the
// file holds by then (other hosts may have written it since it was read),
// under the cache's lock, through a temporary file renamed over it, so
// that a reader never sees half of it. Entries of files that no longer
// exist are dropped.
func (dc *describeCache) save(cands []candidate) {
	fresh := map[string]*cacheEntry{}
	for i := range cands {
		if c := &cands[i]; c.rec != nil {
			fresh[c.abs] = c.rec
		}
	}
	if len(fresh) == 0 && !dc.rewrite {
		return
	}
	if err := dc.write(fresh); err != nil {
		dc.problem("not written: %v", err)
	}
}

func (dc *describeCache) write(fresh map[string]*cacheEntry) error {
	if err := os.MkdirAll(dc.dir, 0o700); err != nil {
		return err
	}
	unlock, err := lockCache(filepath.Join(dc.dir, cacheLockName), cacheLockWait)
	if err != nil {
		return err
	}
	defer unlock()
	// A temporary file a minute old is one a writer that died left behind.
	if tmps, err := filepath.Glob(filepath.Join(dc.dir, cacheTempPattern)); err == nil {
		for _, f := range tmps {
			if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) > time.Minute {
				_ = os.Remove(f)
			}
		}
	}
	path := filepath.Join(dc.dir, cacheFileName)
	entries, _ := readCache(path) // what it could not read was reported at open
	if entries == nil {
		entries = map[string]*cacheEntry{}
	}
	for k := range entries {
		if _, err := os.Lstat(k); errors.Is(err, fs.ErrNotExist) {
			delete(entries, k)
		}
	}
	for k, e := range fresh {
		entries[k] = e
	}
	b, err := json.Marshal(cacheFile{Format: cacheFormat, Entries: entries})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dc.dir, cacheTempPattern)
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameOver(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// Results of tryLock.
var (
	errLockBusy = errors.New("locked by another host")
	errNoLocks  = errors.New("no file locks here")
)

// lockCache takes the lock file at path, waiting up to wait for another
// writer to release it, and returns its release. Where the file system
// has no locks (some NFS mounts) it goes on without: writers may then
// lose each other's entries, never see half a file.
func lockCache(path string, wait time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		unlock, err := tryLock(f)
		switch {
		case err == nil:
			return func() { unlock(); f.Close() }, nil
		case errors.Is(err, errNoLocks):
			return func() { f.Close() }, nil
		case !errors.Is(err, errLockBusy):
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		case time.Now().After(deadline):
			f.Close()
			return nil, fmt.Errorf("%s stayed locked by another host for %v", path, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// log writes the cache's problems, if any, in one Debug line.
func (dc *describeCache) log(l hclog.Logger) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if l == nil || len(dc.problems) == 0 {
		return
	}
	l.Debug("describe cache ignored", "dir", dc.dir, "problem", strings.Join(dc.problems, "; "))
}
