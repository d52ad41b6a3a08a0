package host_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/host"
)

// The plugin's stdin is Config.Stdin, none when nil: plugwire's lifeline
// is another descriptor.
func TestPluginStdin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		stdin io.Reader
		want  string
	}{
		{"nil", nil, ""},
		{"reader", strings.NewReader("hello from the host\n"), "hello from the host\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPlug(t, &host.Config{Stdin: tc.stdin}, "serve")
			b := preparedBuilder(t, p, map[string]any{"run": "stdin"})
			var said []string
			if err := b.Run(context.Background(), nil, uiFunc(func(s string) { said = append(said, s) })); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("stdin: %q", tc.want); len(said) != 1 || said[0] != want {
				t.Errorf("the plugin said %q, want [%q]", said, want)
			}
		})
	}
}

// Config.Cmd.Stdin is refused with an error that points at Config.Stdin.
func TestCmdStdinRefused(t *testing.T) {
	t.Parallel()
	cmd := helperCmd("serve")
	cmd.Stdin = strings.NewReader("")
	c := host.NewClient(&host.Config{Cmd: cmd})
	defer c.Kill()
	_, err := c.Builder()
	if err == nil || !strings.Contains(err.Error(), "has Stdin set") || !strings.Contains(err.Error(), "Config.Stdin") {
		t.Fatalf("Builder with Cmd.Stdin set: %v, want an error pointing at Config.Stdin", err)
	}
}
