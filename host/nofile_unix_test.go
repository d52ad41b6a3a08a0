//go:build unix

package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plugwire/plugwire/host"
)

// envNoFile, "1", makes a serving helper lower its descriptor limit to
// the lowest descriptor it has free, before Serve: it can open nothing
// more, as under `ulimit -n` in a crowded process.
const envNoFile = "PLUGWIRE_TEST_NOFILE"

// lowerNoFile sets this process's RLIMIT_NOFILE to its lowest free
// descriptor.
func lowerNoFile() error {
	fd, err := syscall.Dup(0)
	if err != nil {
		return err
	}
	_ = syscall.Close(fd)
	lim := syscall.Rlimit{Cur: uint64(fd), Max: uint64(fd)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setting RLIMIT_NOFILE to %d: %w", fd, err)
	}
	return nil
}

// A plugin that cannot listen for a reason other than a port in use (here
// no descriptor left: EMFILE) fails its start at once with that cause,
// instead of reporting every port taken, which a host retries until its
// StartTimeout.
func TestPluginListenFails(t *testing.T) {
	t.Parallel()
	p := newPlug(t, &host.Config{StartTimeout: time.Minute}, "serve", envNoFile+"=1")
	err := p.Start(context.Background())
	if !errors.Is(err, host.ErrProcessExited) || errors.Is(err, host.ErrNoFreePort) {
		t.Fatalf("Start of a plugin out of descriptors: %v, want ErrProcessExited, not ErrNoFreePort", err)
	}
	for _, want := range []string{"listening on 127.0.0.1:", "too many open files"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start's error %q does not say %q", err, want)
		}
	}
}

func init() {
	if os.Getenv(envHelper) != "" && os.Getenv(envNoFile) == "1" {
		if err := lowerNoFile(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
	}
}
