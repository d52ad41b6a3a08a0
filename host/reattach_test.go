package host

import (
	"os/exec"
	"strings"
	"testing"
)

// Which entry of PLUGWIRE_REATTACH a Client takes, by the name of the
// binary it would start.
func TestFindReattach(t *testing.T) {
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
		{"/plugins/packer-plugin-b_v1.4.0", "127.0.0.1:1002"},
		{"/plugins/packer-plugin-b_vx", ""},
		{"/plugins/c_v1.0.0", "127.0.0.1:1003"},
		{"/plugins/builder-b", ""},
	}
	for _, tt := range tests {
		cmd := exec.Command(tt.path)
		cmd.Path = tt.path // as given, not looked up
		r, err := findReattach(&Config{Cmd: cmd})
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
}
