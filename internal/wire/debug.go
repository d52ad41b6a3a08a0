package wire

import (
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Debug mode: a plugin run by hand with EnvDebug set serves hosts one
// after another, and a host finds it through EnvReattach.
const (
	// EnvDebug, set to a true value ("1", "true"), makes a plugin run by
	// hand (one no host started: EnvSecret is not set) serve in debug mode.
	EnvDebug = "PLUGWIRE_DEBUG"
	// EnvReattach holds, as JSON, the plugins running in debug mode that a
	// host connects to instead of starting them, by name:
	// {"NAME":{"addr":"127.0.0.1:PORT","secret":"HEX","pid":N}}.
	EnvReattach = "PLUGWIRE_REATTACH"
)

// The port range a plugin in debug mode listens in when EnvMinPort and
// EnvMaxPort are not set: the host's default range.
const (
	DefaultMinPort = 10000
	DefaultMaxPort = 25000
)

// DebugMode reports whether a plugin is to run in debug mode: EnvDebug is
// true and no host started it (a host always sets EnvSecret, so a host
// run from a shell where EnvDebug is exported still starts its plugins
// normally). A value of EnvDebug that is not a boolean is an error.
func DebugMode(lookup func(string) (string, bool)) (bool, error) {
	v, ok := lookup(EnvDebug)
	if !ok || v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%s is not a boolean (use 1 to debug)", EnvDebug, Quote(v))
	}
	if _, hosted := lookup(EnvSecret); hosted {
		return false, nil
	}
	return on, nil
}

// ReattachEntry is one plugin in EnvReattach.
type ReattachEntry struct {
	Addr   string `json:"addr"`
	Secret string `json:"secret"`
	Pid    int    `json:"pid"`
}

// ReattachLine returns the line a plugin in debug mode prints for a person
// to paste into another shell: EnvReattach='{"NAME":{...}}', quoted for a
// POSIX shell. On Windows a second line gives the same for PowerShell:
// $env:EnvReattach='...'.
func ReattachLine(name string, e ReattachEntry) string {
	b, _ := json.Marshal(map[string]ReattachEntry{name: e}) // cannot fail
	line := EnvReattach + "='" + strings.ReplaceAll(string(b), "'", `'\''`) + "'"
	if runtime.GOOS == "windows" {
		line += "\n$env:" + EnvReattach + "='" + strings.ReplaceAll(string(b), "'", "''") + "'"
	}
	return line
}

// ParseReattach parses the value of EnvReattach and checks each entry: a
// loopback address with a port, a secret of SecretSize hex-encoded bytes.
// Errors name the variable and the entry, never the secret.
func ParseReattach(v string) (map[string]ReattachEntry, error) {
	var m map[string]ReattachEntry
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf(`%s is not JSON of the form {"NAME":{"addr":"127.0.0.1:PORT","secret":"HEX","pid":N}}: %v`, EnvReattach, err)
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := m[name].Check(); err != nil {
			return nil, fmt.Errorf("%s: entry %s: %w", EnvReattach, Quote(name), err)
		}
	}
	return m, nil
}

// Check checks e's address and secret.
func (e ReattachEntry) Check() error {
	host, port, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return fmt.Errorf("addr %s is not HOST:PORT", Quote(e.Addr))
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("addr %s is not a loopback address: plugins listen on 127.0.0.1 only", Quote(e.Addr))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("addr %s has no valid port", Quote(e.Addr))
	}
	if _, err := e.ParseSecret(); err != nil {
		return err
	}
	return nil
}

// ParseSecret decodes e's secret; the error never quotes it.
func (e ReattachEntry) ParseSecret() (Secret, error) {
	return parseSecret("secret", e.Secret)
}
