package wire_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/internal/wire"
)

// FuzzPortRange feeds PortRange arbitrary values of the two variables, each
// set or not. It must never panic; an accepted range is a valid inclusive
// range of TCP ports equal to what the strings say; an error names a
// variable and quotes at most a short prefix of the value.
func FuzzPortRange(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzPortRange.
	f.Fuzz(func(t *testing.T, minS, maxS string, minSet, maxSet bool) {
		lookup := func(name string) (string, bool) {
			switch name {
			case wire.EnvMinPort:
				return minS, minSet
			case wire.EnvMaxPort:
				return maxS, maxSet
			}
			t.Fatalf("PortRange looked up %q", name)
			return "", false
		}
		lo, hi, err := wire.PortRange(lookup)
		if err == nil {
			if !minSet || !maxSet {
				t.Fatalf("accepted a range with a variable unset: %d-%d", lo, hi)
			}
			if lo < 1 || hi > 65535 || lo > hi {
				t.Fatalf("accepted %q-%q as the invalid range %d-%d", minS, maxS, lo, hi)
			}
			if a, _ := strconv.Atoi(minS); a != lo {
				t.Fatalf("min %q read as %d", minS, lo)
			}
			if b, _ := strconv.Atoi(maxS); b != hi {
				t.Fatalf("max %q read as %d", maxS, hi)
			}
			return
		}
		msg := err.Error()
		if !strings.Contains(msg, wire.EnvMinPort) && !strings.Contains(msg, wire.EnvMaxPort) {
			t.Fatalf("error %q names neither variable", msg)
		}
		if limit := 2*quotedLen(minS) + 2*quotedLen(maxS) + 200; len(msg) > limit {
			t.Fatalf("error is %d bytes (limit %d): %q", len(msg), limit, msg)
		}
		if strings.Contains(msg, "\n") {
			t.Fatalf("error %q spans lines", msg)
		}
	})
}

// quotedLen is the length of the longest quotation of s an error may hold:
// its first 80 bytes, Go-quoted.
func quotedLen(s string) int {
	if len(s) > 80 {
		s = s[:80]
	}
	return len(strconv.Quote(s))
}

// FuzzParseAddress feeds ParseAddress arbitrary first lines. It must never
// panic; an accepted line gives a loopback IP and a port in 1..65535 that
// ParseAddress accepts again unchanged; an error quotes at most about 80
// bytes of the line, on one line.
func FuzzParseAddress(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzParseAddress.
	f.Fuzz(func(t *testing.T, line string) {
		addr, err := wire.ParseAddress(line)
		if err != nil {
			msg := err.Error()
			if limit := quotedLen(line) + 120; len(msg) > limit {
				t.Fatalf("error is %d bytes (limit %d): %q", len(msg), limit, msg)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error %q spans lines", msg)
			}
			return
		}
		host, portS, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("ParseAddress(%q) = %q, which does not split: %v", line, addr, err)
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			t.Fatalf("ParseAddress(%q) accepted the non-loopback %q", line, addr)
		}
		port, err := strconv.Atoi(portS)
		if err != nil || port < 1 || port > 65535 {
			t.Fatalf("ParseAddress(%q) accepted port %q", line, portS)
		}
		again, err := wire.ParseAddress(addr)
		if err != nil || again != addr {
			t.Fatalf("ParseAddress(%q) = %q, but ParseAddress(%q) = %q, %v", line, addr, addr, again, err)
		}
	})
}
