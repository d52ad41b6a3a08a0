package host_test

import (
	"context"
	"strings"
	"testing"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// A zero Client, made without NewClient, says so rather than panicking;
// Kill and Exited, which a host's cleanup calls, do nothing.
func TestZeroClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(c *host.Client) error
	}{
		{"Start", func(c *host.Client) error { return c.Start(context.Background()) }},
		{"Dispense", func(c *host.Client) error { _, err := c.Dispense("builder"); return err }},
		{"Builder", func(c *host.Client) error { _, err := c.Builder(); return err }},
		{"Command", func(c *host.Client) error { _, err := c.Command(); return err }},
		{"Dispense[shared.Builder]", func(c *host.Client) error { _, err := host.Dispense[shared.Builder](c, "builder/ebs"); return err }},
		{"Dispense[shared.RemoteCommand]", func(c *host.Client) error { _, err := host.Dispense[shared.RemoteCommand](c, "command/x"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c host.Client
			err := tt.call(&c)
			if err == nil || !strings.Contains(err.Error(), "make a Client with host.NewClient") {
				t.Fatalf("%s on a zero Client: %v, want an error naming NewClient", tt.name, err)
			}
			if c.Exited() {
				t.Errorf("Exited on a zero Client is true")
			}
			c.Kill()
		})
	}
}
