package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/plugwire/plugwire/internal/wire"
)

// ErrChecksum is wrapped by the error of a binary whose SHA-256 is not the
// one it must have: Config.SHA256, or its FILE_SHA256SUM sidecar file; and
// by the error for a sidecar that holds no SHA-256.
var ErrChecksum = errors.New("checksum mismatch")

// ErrNoChecksum is wrapped by the error for a binary without a sidecar
// FILE_SHA256SUM file when a checksum is required
// (DiscoverOptions.RequireChecksum).
var ErrNoChecksum = errors.New("no checksum file")

// SidecarSuffix ends the name of a binary's checksum file: the sidecar of
// plugin-demo is plugin-demo_SHA256SUM (of plugin-demo.exe,
// plugin-demo.exe_SHA256SUM). It holds the binary's SHA-256 in hex, alone
// or as the first field of a line (the output of sha256sum).
const SidecarSuffix = "_SHA256SUM"

// maxSidecar bounds how much of a sidecar file is read.
const maxSidecar = 4096

// checkSidecar checks the binary at path against its sidecar file and
// returns what it verified (nil when there is no sidecar and none is
// required, or when the file has no stable stamp) and the checksum ("" when
// there is no sidecar).
func checkSidecar(path string, required bool) (*verified, string, error) {
	want, side, err := readSidecar(path, required)
	if want == nil || err != nil {
		return nil, "", err
	}
	v, err := checkSHA256(path, want)
	if err != nil {
		return nil, "", fmt.Errorf("%w (from %s)", err, side)
	}
	return v, hex.EncodeToString(want), nil
}

// readSidecar returns the SHA-256 the sidecar file of the binary at path
// holds, and the sidecar's name; nil when there is none and none is
// required.
func readSidecar(path string, required bool) (want []byte, side string, err error) {
	side = path + SidecarSuffix
	f, err := os.Open(side)
	if errors.Is(err, fs.ErrNotExist) {
		if required {
			return nil, side, fmt.Errorf("host: %s: %w %s, and checksums are required", path, ErrNoChecksum, side)
		}
		return nil, side, nil
	}
	if err != nil {
		return nil, side, fmt.Errorf("host: reading checksum file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSidecar))
	if err != nil {
		return nil, side, fmt.Errorf("host: reading checksum file: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return nil, side, reasonErr{fmt.Sprintf("host: checksum file %s is empty", side), ErrChecksum}
	}
	want, err = parseSHA256(fields[0])
	if err != nil {
		return nil, side, reasonErr{fmt.Sprintf("host: checksum file %s: %v", side, err), ErrChecksum}
	}
	return want, side, nil
}

// parseSHA256 decodes a hex SHA-256.
func parseSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%s is not a SHA-256 in hex (64 hex digits)", wire.Quote(s))
	}
	return b, nil
}

// sidecarSum is a checksum a sidecar file gave, and what checking it
// verified.
type sidecarSum struct {
	hex      string
	verified *verified
}

// fileStamp is a file's identity where the system gives one that no
// program can keep while changing the file: see stampOf.
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// verified records that the file at path had the SHA-256 sum while it had
// stamp: a later check that finds the same stamp need not read it again.
type verified struct {
	path  string
	sum   []byte
	stamp fileStamp
}

// holds reports whether the file at path still is the one v verified
// against want.
func (v *verified) holds(path string, want []byte) bool {
	if v == nil || v.path != path || !bytes.Equal(v.sum, want) {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := stampOf(fi)
	return ok && st == v.stamp
}

// stampQuiet is how long a file must have been left alone for its stamp
// to count: a file system takes its change times from a coarse clock, so a
// change right after another can keep the same change time.
const stampQuiet = time.Second

// checkSHA256 hashes the file at path and compares it with want. It
// returns what it verified when the file has a stamp that did not change
// while it was read and whose change time is stampQuiet before now.
func checkSHA256(path string, want []byte) (*verified, error) {
	return checkSHA256At(path, want, time.Now())
}

func checkSHA256At(path string, want []byte, now time.Time) (*verified, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return nil, sumMismatch(path, got, want)
	}
	after, err := f.Stat()
	if err != nil {
		return nil, nil
	}
	st1, ok1 := stampOf(before)
	st2, ok2 := stampOf(after)
	if !ok1 || !ok2 || st1 != st2 || now.Sub(time.Unix(0, st1.ctime)) < stampQuiet {
		return nil, nil
	}
	return &verified{path: path, sum: want, stamp: st1}, nil
}

// sumMismatch is the error of a file at path whose SHA-256 is got, not
// want.
func sumMismatch(path string, got, want []byte) error {
	return fmt.Errorf("host: %s: %w: its SHA-256 is %x, want %x", path, ErrChecksum, got, want)
}

// checkConfigSum checks the binary Config.Cmd names against
// Config.SHA256, before it is started. A binary a Component's Discover
// verified is not read again while its stamp is unchanged.
func (c *Client) checkConfigSum() error {
	if c.cfg.SHA256 == "" {
		return nil
	}
	want, err := parseSHA256(c.cfg.SHA256)
	if err != nil {
		return fmt.Errorf("host: Config.SHA256: %w", err)
	}
	if c.cfg.verified.holds(c.cfg.Cmd.Path, want) {
		return nil
	}
	_, err = checkSHA256(c.cfg.Cmd.Path, want)
	return err
}
