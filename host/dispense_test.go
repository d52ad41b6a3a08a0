package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// Dispense[T] of a component that is not a T returns a one-line error
// naming the component and both types, and the plugin serves on: the
// right T then works. When the host's own Config.Plugins made the type,
// the error names the entry; plugwire's own contracts under their own
// kind are the defaults', and the error does not point at Config.Plugins.
func TestDispenseWrongType(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	own := newPlug(t, &host.Config{Plugins: map[string]plugin.Plugin{"counter": counters.Plugin(nil)}}, "counter")
	mapped := newPlug(t, &host.Config{Plugins: map[string]plugin.Plugin{"counter": &shared.BuilderPlugin{}}}, "counter")
	for _, tc := range []struct {
		name string
		call func() error
		want string // the error's end
	}{
		{"builder as command", func() error {
			_, err := host.Dispense[shared.RemoteCommand](p.Client, "builder")
			return err
		}, `dispensing "builder" from ` + testExeName + `: wrong type: it is a shared.Builder, not a shared.RemoteCommand`},
		{"command as builder", func() error {
			_, err := host.Dispense[shared.Builder](p.Client, "command")
			return err
		}, `dispensing "command" from ` + testExeName + `: wrong type: it is a shared.RemoteCommand, not a shared.Builder`},
		{"command as a type of the host's own", func() error {
			_, err := host.Dispense[interface{ Frob() }](p.Client, "command")
			return err
		}, `it is a shared.RemoteCommand, not an interface { Frob() }`},
		{"host's own contract as builder", func() error {
			_, err := host.Dispense[shared.Builder](own.Client, "counter/c")
			return err
		}, `dispensing "counter/c" from ` + testExeName + `: wrong type: it is a host_test.counterClient, not a shared.Builder (Config.Plugins["counter"] makes what "counter/c" dispenses)`},
		{"Config.Plugins maps a kind to plugwire's builder", func() error {
			_, err := host.Dispense[Counter](mapped.Client, "counter/c")
			return err
		}, `dispensing "counter/c" from ` + testExeName + `: wrong type: it is a shared.Builder, not a host_test.Counter (Config.Plugins["counter"] makes what "counter/c" dispenses)`},
	} {
		err := tc.call()
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line ending %q", tc.name, err, tc.want)
		}
		if !errors.Is(err, host.ErrWrongType) {
			t.Errorf("%s: error %v does not wrap ErrWrongType", tc.name, err)
		}
		if errors.Is(err, host.ErrProcessExited) {
			t.Errorf("%s: error %v wraps ErrProcessExited", tc.name, err)
		}
	}
	b, err := host.Dispense[shared.Builder](p.Client, "builder")
	if err != nil {
		t.Fatalf("Dispense[shared.Builder] after the wrong types: %v", err)
	}
	if err := b.Prepare(map[string]any{}); err != nil {
		t.Fatalf("Prepare after the wrong types: %v", err)
	}
	if p.Exited() {
		t.Error("the plugin exited after a wrongly typed Dispense")
	}
}

// A nil *Client is reported, not a panic.
func TestDispenseNilClient(t *testing.T) {
	t.Parallel()
	if _, err := host.Dispense[shared.Builder](nil, "builder"); err == nil || !strings.Contains(err.Error(), "host.NewClient") {
		t.Errorf("Dispense on a nil Client: %v, want an error naming host.NewClient", err)
	}
}

// Command returns a shared.RemoteCommand: the errors of the calls
// themselves are reachable without a type assertion, and a dead plugin's
// wrap ErrProcessExited.
func TestCommandErrorsReachable(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	cmd, err := p.Command()
	if err != nil {
		t.Fatal(err)
	}
	if code, err := cmd.RunErr(context.Background(), nil, nil); code != 0 || err != nil {
		t.Fatalf("RunErr of a live plugin: %d, %v", code, err)
	}
	if err := killPid(p.pid(t)); err != nil {
		t.Fatal(err)
	}
	p.log.waitFor(t, 10*time.Second, `"plugin exited"`, msgIs("plugin exited"))
	code, err := cmd.RunErr(context.Background(), nil, []string{"ok"})
	wantExited(t, "RunErr of a killed plugin", err, killedStatus)
	if code == 0 {
		t.Errorf("RunErr of a killed plugin returned code 0")
	}
	_, err = cmd.SynopsisErr()
	wantExited(t, "SynopsisErr of a killed plugin", err, killedStatus)
}
