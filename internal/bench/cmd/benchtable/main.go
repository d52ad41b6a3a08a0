// Command benchtable prints plugwire's performance table (issue 6): every
// scenario of package bench on every side in one run, the sides
// alternating in each round, with the median of the per-round ratios of
// plugwire to the other sides, and the machine it ran on.
//
//	go -C internal/bench run ./cmd/benchtable [-rounds 11] [-scenarios call,callback] [-sides plugwire,floor,stock] [-ports 30100-31099]
//
// The plugin processes are this binary run again.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/plugwire/plugwire/internal/bench"
)

func main() {
	bench.RunHelperIfRequested()

	cfg := bench.DefaultTableConfig
	var sides, scenarios, cpuprofile, ports, ports64 string
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds; the sides alternate within each")
	flag.StringVar(&sides, "sides", joinSides(cfg.Sides), "comma-separated sides; ratios are of the first to each other (the callback scenario adds 2013)")
	flag.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios to run: call,callback,4MiB,64MiB,start,start64,idle (default), and upload,download,small (only when named)")
	flag.Int64Var(&cfg.StreamSize, "stream-size", cfg.StreamSize, "bytes each round of upload and download moves")
	flag.IntVar(&cfg.Calls, "calls", cfg.Calls, "Synopsis calls per side and round")
	flag.IntVar(&cfg.Says, "says", cfg.Says, "Ui.Say callbacks per Run")
	flag.IntVar(&cfg.Plugins, "plugins", cfg.Plugins, "plugins per side in the idle memory scenario")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write the host's CPU profile to this file")
	flag.StringVar(&ports, "ports", portRange(cfg.Options), "port range of the TCP sides' plugins")
	flag.StringVar(&ports64, "ports64", portRange(cfg.Start64), "port range the 64 plugins started at once share")
	flag.Parse()

	cfg.Sides = nil
	for _, s := range strings.Split(sides, ",") {
		cfg.Sides = append(cfg.Sides, bench.Side(strings.TrimSpace(s)))
	}
	var err error
	if cfg.Options.MinPort, cfg.Options.MaxPort, err = parseRange(ports); err != nil {
		fail(err)
	}
	if cfg.Start64.MinPort, cfg.Start64.MaxPort, err = parseRange(ports64); err != nil {
		fail(err)
	}
	if scenarios != "" {
		cfg.Scenarios = strings.Split(scenarios, ",")
	}
	cfg.Progress = os.Stderr

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}

	fmt.Printf("machine: %s\n", bench.Machine())
	fmt.Printf("load average at start: %s\n", bench.LoadAverage())
	t0 := time.Now()
	rows, err := bench.RunTable(cfg)
	if err != nil {
		pprof.StopCPUProfile()
		fail(err)
	}
	fmt.Printf("load average at end: %s; took %s\n\n", bench.LoadAverage(), time.Since(t0).Round(time.Second))
	if err := bench.PrintTable(os.Stdout, cfg.Sides, cfg.Rounds, rows); err != nil {
		fail(err)
	}
}

func portRange(o bench.Options) string { return fmt.Sprintf("%d-%d", o.MinPort, o.MaxPort) }

func parseRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		lo, err = strconv.Atoi(a)
	}
	if ok && err == nil {
		hi, err = strconv.Atoi(b)
	}
	if !ok || err != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("port range %q is not MIN-MAX", s)
	}
	return lo, hi, nil
}

func joinSides(sides []bench.Side) string {
	s := make([]string, len(sides))
	for i, x := range sides {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchtable:", err)
	os.Exit(1)
}
