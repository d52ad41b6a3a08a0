package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/host"
)

// contractPlugins are what the host dispenses of its own kinds, the
// contracts of package contracts.
var contractPlugins = map[string]plugin.Plugin{
	contracts.CommunicatorKind: contracts.Communicators.Plugin(nil),
	contracts.ProvisionerKind:  contracts.Provisioners.Plugin(nil),
}

// localCommunicator is plugin-demo's communicator "local", as discovery
// names it.
const localCommunicator = "demo-local"

// fileCommand runs "upload SRC DST" or "download SRC DST" through the
// communicator demo-local and prints "N bytes in T (R MB/s)". It reports
// whether args name one of these commands.
func (c *core) fileCommand(ctx context.Context, args []string, stdout io.Writer) (handled bool, code int, err error) {
	if len(args) == 0 || (args[0] != "upload" && args[0] != "download") {
		return false, 0, nil
	}
	if len(args) != 3 {
		return true, 2, fmt.Errorf("usage: host %s SRC DST", args[0])
	}
	var n int64
	var d time.Duration
	if args[0] == "upload" {
		n, d, err = c.upload(ctx, args[1], args[2])
	} else {
		n, d, err = c.download(ctx, args[1], args[2])
	}
	if err != nil {
		return true, 1, err
	}
	fmt.Fprintf(stdout, "%d bytes in %v (%.1f MB/s)\n", n, d.Round(time.Millisecond), float64(n)/1e6/max(d.Seconds(), 1e-9))
	return true, 0, nil
}

// upload sends the local file src to dst.
func (c *core) upload(ctx context.Context, src, dst string) (int64, time.Duration, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return 0, 0, fmt.Errorf("%s is a directory", src)
	}
	return c.transfer(ctx, func(comm contracts.Communicator) (int64, error) {
		return comm.Upload(ctx, dst, f)
	})
}

// download fetches src into the local file dst, all or nothing.
func (c *core) download(ctx context.Context, src, dst string) (n int64, d time.Duration, err error) {
	n, err = contracts.WriteFile(ctx, dst, func(w io.Writer) (n int64, err error) {
		n, d, err = c.transfer(ctx, func(comm contracts.Communicator) (int64, error) {
			return comm.Download(ctx, src, w)
		})
		return n, err
	})
	return n, d, err
}

// transfer starts the communicator demo-local, calls move with it, and
// says how long move took.
func (c *core) transfer(ctx context.Context, move func(contracts.Communicator) (int64, error)) (int64, time.Duration, error) {
	comm, cl, err := c.communicator(ctx, localCommunicator)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Kill()
	start := time.Now()
	n, err := move(comm)
	return n, time.Since(start), err
}

// communicator starts the plugin serving communicator NAME and dispenses
// it. Ctrl-C while the plugin starts ends the start at once.
func (c *core) communicator(ctx context.Context, name string) (contracts.Communicator, *host.Client, error) {
	comp, err := c.cat.Lookup(contracts.CommunicatorKind, name)
	if err != nil {
		return nil, nil, err
	}
	cl, err := c.clientOf(comp, contractPlugins)
	if err != nil {
		return nil, nil, err
	}
	if err := cl.Start(ctx); err != nil {
		cl.Kill()
		return nil, nil, err
	}
	comm, err := host.Dispense[contracts.Communicator](cl, comp.Dispense)
	if err != nil {
		cl.Kill()
		return nil, nil, err
	}
	return comm, cl, nil
}
