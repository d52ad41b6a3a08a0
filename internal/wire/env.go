// Package wire holds plugwire's transport protocol, shared by the plugin
// side (the root package's Serve) and the host side (package host): the
// environment variables a host sets, the address line a plugin prints, and
// the preamble both exchange on the one TCP connection before go-plugin's
// net/rpc protocol starts.
package wire

import (
	"errors"
	"fmt"
	"strconv"
)

// The environment variables a host sets for the plugin it starts.
const (
	// EnvMinPort and EnvMaxPort bound, inclusively, the ports the plugin may
	// listen on (the names of the original Packer plugin protocol).
	EnvMinPort = "PACKER_PLUGIN_MIN_PORT"
	EnvMaxPort = "PACKER_PLUGIN_MAX_PORT"
	// EnvSecret carries the per-launch secret the host proves on connect,
	// hex encoded. The plugin unsets it once read.
	EnvSecret = "PLUGWIRE_SECRET"
	// EnvLifeline names the inherited descriptor (a handle on Windows)
	// that is the plugin's lifeline: a pipe the host holds open, whose EOF
	// means the host is gone (see PassLifeline). The plugin unsets it once
	// read.
	EnvLifeline = "PLUGWIRE_LIFELINE"
)

// ErrNotStartedByHost reports a plugin binary run with none of the plugwire
// variables set, which is what happens when a person runs it by hand.
var ErrNotStartedByHost = errors.New("this program is a plugwire plugin: it is started by a host program, not by hand (" +
	EnvMinPort + " and " + EnvMaxPort + " are not set)")

// PortRange reads EnvMinPort and EnvMaxPort through lookup (os.LookupEnv in
// a plugin) and checks that they form a valid inclusive range of TCP ports.
func PortRange(lookup func(string) (string, bool)) (minPort, maxPort int, err error) {
	minS, minOK := lookup(EnvMinPort)
	maxS, maxOK := lookup(EnvMaxPort)
	switch {
	case !minOK && !maxOK:
		return 0, 0, ErrNotStartedByHost
	case !minOK:
		return 0, 0, fmt.Errorf("%s is not set (%s is %s)", EnvMinPort, EnvMaxPort, Quote(maxS))
	case !maxOK:
		return 0, 0, fmt.Errorf("%s is not set (%s is %s)", EnvMaxPort, EnvMinPort, Quote(minS))
	}
	if minPort, err = parsePort(EnvMinPort, minS); err != nil {
		return 0, 0, err
	}
	if maxPort, err = parsePort(EnvMaxPort, maxS); err != nil {
		return 0, 0, err
	}
	if minPort > maxPort {
		return 0, 0, fmt.Errorf("%s=%d is above %s=%d", EnvMinPort, minPort, EnvMaxPort, maxPort)
	}
	return minPort, maxPort, nil
}

// CheckPortRange reports whether minPort..maxPort is a usable port range,
// naming the bad value. Hosts use it on their configuration.
func CheckPortRange(minPort, maxPort int) error {
	for _, p := range []struct {
		name string
		v    int
	}{{"MinPort", minPort}, {"MaxPort", maxPort}} {
		if p.v < 1 || p.v > 65535 {
			return fmt.Errorf("%s %d is not a TCP port (1-65535)", p.name, p.v)
		}
	}
	if minPort > maxPort {
		return fmt.Errorf("MinPort %d is above MaxPort %d", minPort, maxPort)
	}
	return nil
}

func parsePort(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%s is not a port number", name, Quote(s))
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s=%d is not a TCP port (1-65535)", name, n)
	}
	return n, nil
}

// maxQuoted is how many bytes of an untrusted value an error message quotes.
const maxQuoted = 80

// Quote returns s quoted for an error message, cut to a sane length, so
// that a value read from a plugin or the environment can be shown safely.
func Quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// EnvConnectTimeout, a Go duration, bounds how long the plugin waits for its
// host to connect after printing its address: the host's
// host.Config.StartTimeout.
const EnvConnectTimeout = "PLUGWIRE_CONNECT_TIMEOUT"
