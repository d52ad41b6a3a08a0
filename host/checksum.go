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

	"github.com/plugwire/plugwire/internal/wire"
)

// ErrChecksum is wrapped by the error of a binary whose SHA-256 is not the
// one it must have: Config.SHA256, or its FILE_SHA256SUM sidecar file.
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
// returns the checksum, or "" when there is no sidecar and none is
// required.
func checkSidecar(path string, required bool) (string, error) {
	side := path + SidecarSuffix
	f, err := os.Open(side)
	if errors.Is(err, fs.ErrNotExist) {
		if required {
			return "", fmt.Errorf("host: %s: %w %s, and checksums are required", path, ErrNoChecksum, side)
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("host: reading checksum file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSidecar))
	if err != nil {
		return "", fmt.Errorf("host: reading checksum file: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return "", fmt.Errorf("host: checksum file %s is empty", side)
	}
	want, err := parseSHA256(fields[0])
	if err != nil {
		return "", fmt.Errorf("host: checksum file %s: %w", side, err)
	}
	if err := checkSHA256(path, want); err != nil {
		return "", fmt.Errorf("%w (from %s)", err, side)
	}
	return hex.EncodeToString(want), nil
}

// parseSHA256 decodes a hex SHA-256.
func parseSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%s is not a SHA-256 in hex (64 hex digits)", wire.Quote(s))
	}
	return b, nil
}

// checkSHA256 hashes the file at path and compares it with want.
func checkSHA256(path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("host: checking the SHA-256 of %s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("host: %s: %w: its SHA-256 is %x, want %x", path, ErrChecksum, got, want)
	}
	return nil
}

// checkConfigSum checks the binary Config.Cmd names against
// Config.SHA256, before it is started.
func (c *Client) checkConfigSum() error {
	if c.cfg.SHA256 == "" {
		return nil
	}
	want, err := parseSHA256(c.cfg.SHA256)
	if err != nil {
		return fmt.Errorf("host: Config.SHA256: %w", err)
	}
	return checkSHA256(c.cfg.Cmd.Path, want)
}
