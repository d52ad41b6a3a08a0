package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// MaxAddressLine is the longest first stdout line a host accepts as an
// address; "127.0.0.1:65535" is 15 bytes, "[::1]:65535" 11.
const MaxAddressLine = 64

// ParseAddress checks the first line a plugin printed on stdout and returns
// the address to dial. It accepts "127.0.0.1:PORT", any other loopback IP,
// and the original protocol's ":PORT" (meaning 127.0.0.1). Anything else,
// including a host name or a non-loopback address, is an error that quotes
// the line.
func ParseAddress(line string) (string, error) {
	line = strings.TrimSuffix(line, "\r")
	if len(line) > MaxAddressLine {
		return "", fmt.Errorf("plugin's first stdout line %s is not an address (want 127.0.0.1:PORT)", Quote(line))
	}
	host, portS, err := net.SplitHostPort(line)
	if err != nil {
		return "", fmt.Errorf("plugin's first stdout line %s is not an address (want 127.0.0.1:PORT)", Quote(line))
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 1 || port > 65535 || portS != strconv.Itoa(port) {
		return "", fmt.Errorf("plugin's first stdout line %s has no valid port (want 127.0.0.1:PORT)", Quote(line))
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("plugin's first stdout line %s is not a loopback address (want 127.0.0.1:PORT)", Quote(line))
	}
	return net.JoinHostPort(ip.String(), portS), nil
}

// NoFreePortLine is what a plugin prints as its first stdout line, in place
// of an address, when every port of its range is taken. It is a fixed token
// of the protocol, so that a host tells a full range from any other failure
// without reading free text, and starts the plugin again a little later.
const NoFreePortLine = "plugwire-no-free-port"

// ErrNoFreePort is wrapped by Listen's error when every port of the range
// is taken.
var ErrNoFreePort = errors.New("no free port in the plugin port range")

// Listen listens on 127.0.0.1 on the first free port of minPort..maxPort.
// It never listens on any other interface. Only a port in use moves it to
// the next one; when every port is taken its error wraps ErrNoFreePort.
// Any other failure (no descriptors left, no buffer space, 127.0.0.1 not
// available, a port this process may not use) ends it at once with its
// cause: starting the plugin again would not help, and taking it for a
// full range would make the host retry until its StartTimeout.
//
// The listener is plain TCP. Since Go 1.24 net.Listen opens Multipath TCP
// listeners where the kernel has MPTCP; for a loopback port that only the
// host dials (with plain TCP) that buys nothing, and on Linux it costs
// about 65 µs of a plugin's start: a probe socket and an MPTCP subflow
// socket behind the listener.
func Listen(minPort, maxPort int) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	var lastErr error
	for p := minPort; p <= maxPort; p++ {
		ln, err := lc.Listen(context.Background(), "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
		if !portTaken(err) {
			return nil, fmt.Errorf("listening on 127.0.0.1:%d (%s..%s range %d-%d): %w", p, EnvMinPort, EnvMaxPort, minPort, maxPort, err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%w: 127.0.0.1 ports %d-%d (%s..%s) are all taken: %v",
		ErrNoFreePort, minPort, maxPort, EnvMinPort, EnvMaxPort, lastErr)
}
