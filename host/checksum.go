package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

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

// checkSidecar checks the binary at path against its sidecar file, within
// ctx, and returns the checksum ("" when there is no sidecar).
func checkSidecar(ctx context.Context, path string, required bool) (string, error) {
	want, side, err := readSidecar(path, required)
	if want == nil || err != nil {
		return "", err
	}
	if err := checkSHA256(ctx, path, want); err != nil {
		return "", fmt.Errorf("%w (from %s)", err, side)
	}
	return hex.EncodeToString(want), nil
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

// sidecarSum is a checksum a sidecar file gave.
type sidecarSum struct {
	hex string
}

// fileStamp is a file's identity where the system gives one: see stampOf.
// It only tells whether a pinned copy of a binary is still the file's
// latest (see pins); what runs is always what was hashed.
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// checkSHA256 hashes the file at path, within ctx, and compares it with
// want.
func checkSHA256(ctx context.Context, path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	defer f.Close()
	got, err := hashReader(ctx, f)
	if err != nil {
		return fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	if !bytes.Equal(got, want) {
		return sumMismatch(path, got, want)
	}
	return nil
}

// sumMismatch is the error of a file at path whose SHA-256 is got, not
// want.
func sumMismatch(path string, got, want []byte) error {
	return fmt.Errorf("host: %s: %w: its SHA-256 is %x, want %x", path, ErrChecksum, got, want)
}

// hashChunk is how much hashReader reads between looks at its context:
// a few milliseconds of hashing.
const hashChunk = 1 << 20

// hashReader returns the SHA-256 of what r holds, reading it in chunks so
// that ctx ending (Start's context, Kill, Discover's context) stops it
// within a chunk.
func hashReader(ctx context.Context, r io.Reader) ([]byte, error) {
	h := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := io.CopyN(h, r, hashChunk)
		if err == io.EOF || err == nil && n < hashChunk {
			return h.Sum(nil), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// configSum returns Config.SHA256 decoded; nil when it is empty.
func (c *Client) configSum() ([]byte, error) {
	if c.cfg.SHA256 == "" {
		return nil, nil
	}
	want, err := parseSHA256(c.cfg.SHA256)
	if err != nil {
		return nil, fmt.Errorf("host: Config.SHA256: %w", err)
	}
	return want, nil
}
