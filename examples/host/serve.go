package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// serveUsage is the help of the serve command.
const serveUsage = `usage: host serve [-every D] [-health D] COMMAND

Keeps the command plugin COMMAND running under a host.Supervisor until
Ctrl-C: it asks the command for its synopsis every D, Pings it every
-health D, prints what happens to its process (started, exited and how,
restarting, gave up), and restarts it when it dies. Try kill -9 on the pid
it prints.
`

// serve runs "host serve": a command plugin kept supervised, its events
// printed on stdout.
func (c *core) serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage) }
	every := fs.Duration("every", 2*time.Second, "how often to call the command")
	health := fs.Duration("health", time.Second, "how often to Ping the plugin (0: no health checks)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *every <= 0 {
		fs.Usage()
		return 2
	}
	comp, err := c.cat.Lookup(shared.CommandPluginName, fs.Arg(0))
	if err != nil {
		fail(stderr, err)
		return 2
	}
	r, err := host.LookupReattach(&exec.Cmd{Path: comp.Path})
	if err != nil {
		fail(stderr, err)
		return 2
	}
	events := make(chan host.Event, 64)
	sup := comp.NewSupervisor(&host.Config{Logger: c.logger, Reattach: r}, &host.SupervisorOptions{
		HealthInterval: *health,
		OnEvent:        func(e host.Event) { events <- e },
	})
	defer sup.Kill()
	// Ctrl-C while the plugin starts ends the start at once.
	if err := sup.Start(ctx); err != nil {
		fail(stderr, err)
		return 1
	}
	cmd, err := sup.DispenseCommand(comp.Dispense)
	if err != nil {
		fail(stderr, err)
		return 1
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		select {
		case e := <-events:
			fmt.Fprintf(stdout, "%s serve: %s\n", e.Time.Format("15:04:05.000"), e)
		case <-tick.C:
			call(ctx, cmd, stdout)
		case <-ctx.Done():
			return 0
		}
	}
}

// call asks cmd for its synopsis and prints the answer or the error.
func call(ctx context.Context, cmd shared.RemoteCommand, stdout io.Writer) {
	start := time.Now()
	s, err := cmd.SynopsisErr()
	at := start.Format("15:04:05.000")
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(stdout, "%s call failed: %s\n", at, strings.TrimPrefix(err.Error(), "host: "))
		}
		return
	}
	fmt.Fprintf(stdout, "%s call: %q in %v\n", at, s, time.Since(start).Round(time.Microsecond))
}
