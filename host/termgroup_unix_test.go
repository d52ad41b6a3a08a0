//go:build unix

package host_test

import (
	"syscall"
	"testing"

	"github.com/plugwire/plugwire/host"
)

// A plugin leads a process group of its own (its background group, which
// Kill and a plugin whose host died end), unless Config.TerminalGroup
// keeps it in the host's group, where what it starts can prompt on the
// host's terminal.
func TestTerminalGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		terminalGroup bool
	}{{"own group", false}, {"TerminalGroup", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPlug(t, &host.Config{TerminalGroup: tc.terminalGroup}, "serve")
			if _, err := p.Builder(); err != nil {
				t.Fatal(err)
			}
			pid := p.pid(t)
			pgid, err := syscall.Getpgid(pid)
			if err != nil {
				t.Fatal(err)
			}
			want := pid
			if tc.terminalGroup {
				want = syscall.Getpgrp()
			}
			if pgid != want {
				t.Errorf("plugin %d is in process group %d, want %d", pid, pgid, want)
			}
		})
	}
}
