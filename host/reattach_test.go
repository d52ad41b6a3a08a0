package host

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Which entry of PLUGWIRE_REATTACH LookupReattach returns, by the name of
// the binary a Client would start; and what it says of a bad value.
func TestLookupReattach(t *testing.T) {
	secret := strings.Repeat("0f", 32)
	t.Setenv(EnvReattach, `{"builder-a":{"addr":"127.0.0.1:1001","secret":"`+secret+`","pid":1},`+
		`"packer-plugin-b":{"addr":"127.0.0.1:1002","secret":"`+secret+`","pid":2},`+
		`"c_v1.0.0":{"addr":"127.0.0.1:1003","secret":"`+secret+`","pid":3}}`)
	tests := []struct {
		path string
		addr string // "" for none
	}{
		{"/plugins/builder-a", "127.0.0.1:1001"},
		{"/plugins/builder-a.EXE", "127.0.0.1:1001"},
		{"builder-a", "127.0.0.1:1001"},
		{"/plugins/packer-plugin-b_v1.4.0", "127.0.0.1:1002"},
		{"/plugins/packer-plugin-b_vx", ""},
		{"/plugins/c_v1.0.0", "127.0.0.1:1003"},
		{"/plugins/builder-b", ""},
	}
	for _, tt := range tests {
		r, err := LookupReattach(&exec.Cmd{Path: tt.path})
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		got := ""
		if r != nil {
			got = r.Addr
		}
		if got != tt.addr {
			t.Errorf("%s: reattaches to %q, want %q", tt.path, got, tt.addr)
		}
	}

	t.Setenv(EnvReattach, "")
	if r, err := LookupReattach(&exec.Cmd{Path: "/plugins/builder-a"}); r != nil || err != nil {
		t.Errorf("%s empty: %v, %v; want nil, nil", EnvReattach, r, err)
	}
	os.Unsetenv(EnvReattach) // t.Setenv restores it
	if r, err := LookupReattach(&exec.Cmd{Path: "/plugins/builder-a"}); r != nil || err != nil {
		t.Errorf("%s unset: %v, %v; want nil, nil", EnvReattach, r, err)
	}

	bad := []struct{ value, says string }{
		{`{"builder-a": {"addr": "127.0.0.1:1"`, EnvReattach + " is not JSON"},
		{`{"builder-a":{"addr":"192.0.2.1:1","secret":"` + secret + `","pid":1}}`, `entry "builder-a": addr "192.0.2.1:1" is not a loopback address`},
		{`{"other":{"addr":"127.0.0.1:1","secret":"nothex","pid":1}}`, `entry "other": secret is not 64 hex digits`},
		{`{"builder-a":{"addr":"127.0.0.1:1","secret":"` + secret + `","pid":1,"extra":2}}`, "unknown field"},
	}
	for _, b := range bad {
		t.Setenv(EnvReattach, b.value)
		r, err := LookupReattach(&exec.Cmd{Path: "/plugins/builder-a"})
		if r != nil || !errors.Is(err, ErrBadReattach) || !strings.Contains(err.Error(), b.says) {
			t.Errorf("%s=%s: %v, %v; want an error wrapping ErrBadReattach saying %q", EnvReattach, b.value, r, err, b.says)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s=%s: the error quotes the secret: %v", EnvReattach, b.value, err)
		}
	}
	if _, err := LookupReattach(nil); err == nil {
		t.Error("LookupReattach(nil) returned no error")
	}
}
