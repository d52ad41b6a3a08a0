//go:build linux

// Command soak runs plugwire for a bounded time the way a busy Packer-like
// host does, with faults, and checks that nothing hangs, leaks, orphans a
// process, loses a Ui line or a reply, or reports an ending as the wrong
// thing. It is not part of `go test ./...`; run it by hand:
//
//	go -C internal/bench run ./cmd/soak -d 2m -workers 20
//
// Each worker starts a plugin (this binary, re-executed as a builder),
// runs a randomly chosen scenario against it and kills it: clean runs
// saying many Ui lines, Kill during a Run that cleans up, cancel and
// deadline, SIGKILL, SIGSTOP then Kill, crashes, panics, a remote error
// wrapping context.DeadlineExceeded, stdout/stderr floods, a grandchild
// left by a plugin that is forced, and a plugin that replies to many calls
// and exits at once. Every scenario checks what it promises; every step
// has a bound. At the end the command checks that no child process and no
// grandchild is left, and that goroutines and descriptors came back, then
// prints a table and exits 1 on any failure.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plugwire/plugwire/host"
)

func main() {
	if os.Getenv(envPlugin) == "1" {
		runPlugin()
		return
	}
	if os.Getenv(envHog) == "1" {
		hog()
	}
	d := flag.Duration("d", time.Minute, "how long to run (workers finish their scenario)")
	workers := flag.Int("workers", 20, "concurrent workers")
	grace := flag.Duration("grace", time.Second, "Config.KillGrace of every client")
	verbose := flag.Bool("v", false, "log every failure as it happens")
	hogs := flag.Int("hogs", 0, "processes that keep a CPU busy while the soak runs")
	only := flag.String("only", "", "comma-separated scenarios to run (default: all)")
	flag.Parse()
	if err := pick(*only); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	stopHogs, err := startHogs(exe, *hogs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	code := soak(*d, *workers, *grace, *verbose, stopHogs)
	os.Exit(code)
}

// run is the soak's shared state.
type run struct {
	exe     string
	grace   time.Duration
	tmp     string
	verbose bool

	mu       sync.Mutex
	counts   map[string]int             // scenario runs
	failures map[string][]string        // scenario → failures
	timings  map[string][]time.Duration // measurement → samples
	figures  map[string]int             // other totals
	orphans  []proc                     // processes that must be gone at the end
}

func (r *run) fail(scenario, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.mu.Lock()
	r.failures[scenario] = append(r.failures[scenario], msg)
	r.mu.Unlock()
	if r.verbose {
		fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", scenario, msg)
	}
}

func (r *run) time(what string, d time.Duration) {
	r.mu.Lock()
	r.timings[what] = append(r.timings[what], d)
	r.mu.Unlock()
}

func (r *run) add(what string, n int) {
	r.mu.Lock()
	r.figures[what] += n
	r.mu.Unlock()
}

func (r *run) mustBeGone(pid int) {
	p := proc{pid: pid, start: startTime(pid)}
	r.mu.Lock()
	r.orphans = append(r.orphans, p)
	r.mu.Unlock()
}

// pick keeps only the scenarios named in only, a comma-separated list.
func pick(only string) error {
	if only == "" {
		return nil
	}
	var kept []scenario
	for _, n := range strings.Split(only, ",") {
		i := slices.IndexFunc(scenarios, func(sc scenario) bool { return sc.name == n })
		if i < 0 {
			return fmt.Errorf("-only: no scenario %q", n)
		}
		kept = append(kept, scenarios[i])
	}
	scenarios = kept
	return nil
}

func soak(d time.Duration, workers int, grace time.Duration, verbose bool, stopHogs func()) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "plugwire-soak-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	becomeSubreaper()
	r := &run{
		exe: exe, grace: grace, tmp: tmp, verbose: verbose,
		counts: map[string]int{}, failures: map[string][]string{},
		timings: map[string][]time.Duration{}, figures: map[string]int{},
	}
	baseG, baseFD := runtime.NumGoroutine(), countFDs()
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for time.Now().Before(end) {
				sc := scenarios[rng.IntN(len(scenarios))]
				r.mu.Lock()
				r.counts[sc.name]++
				r.mu.Unlock()
				r.runScenario(sc, rng)
			}
		})
	}
	wg.Wait()
	host.CleanupClients()
	ran := time.Since(start)
	stopHogs()

	// Nothing may be left: no plugin, no grandchild of a forced plugin.
	for _, p := range r.orphans {
		if p.start != "" && !waitGone(p, 2*time.Second) {
			r.fail("end", "process %d still exists at the end", p.pid)
		}
	}
	if kids := children(); len(kids) > 0 {
		r.fail("end", "child processes left at the end: %v", kids)
	}
	if !settle(func() bool { return runtime.NumGoroutine() <= baseG+2 }, 5*time.Second) {
		r.fail("end", "goroutines: %d at the start, %d at the end", baseG, runtime.NumGoroutine())
	}
	if !settle(func() bool { return countFDs() <= baseFD+2 }, 5*time.Second) {
		r.fail("end", "descriptors: %d at the start, %d at the end", baseFD, countFDs())
	}
	return r.report(ran, workers)
}

// runScenario runs sc with a watchdog: a scenario that runs past its bound
// + 10 s is reported as a hang (with every goroutine's stack) and left.
func (r *run) runScenario(sc scenario, rng *rand.Rand) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.run(r, rng)
	}()
	limit := 30*time.Second + 3*r.grace
	select {
	case <-done:
	case <-time.After(limit):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		r.fail(sc.name, "still running after %v (hang); goroutines:\n%s", limit, buf)
		<-done
	}
}

func (r *run) client(extra ...string) (*host.Client, *logCount) {
	cmd := execSelf(r.exe, extra...)
	lc := &logCount{}
	logger := hclog.New(&hclog.LoggerOptions{Output: lc, Level: hclog.Trace, JSONFormat: true})
	c := host.NewClient(&host.Config{
		Cmd: cmd, KillGrace: r.grace, Logger: logger, Stdout: lc,
		StartTimeout: 30 * time.Second,
	})
	return c, lc
}

func (r *run) report(ran time.Duration, workers int) int {
	fmt.Printf("soak: %d workers for %v (grace %v), GOMAXPROCS %d\n\n", workers, ran.Round(time.Second), r.grace, runtime.GOMAXPROCS(0))
	names := make([]string, 0, len(r.counts))
	for n := range r.counts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("%-22s %6s %8s\n", "scenario", "runs", "failures")
	total, failed := 0, 0
	for _, n := range names {
		fmt.Printf("%-22s %6d %8d\n", n, r.counts[n], len(r.failures[n]))
		total += r.counts[n]
		failed += len(r.failures[n])
	}
	failed += len(r.failures["end"])
	fmt.Printf("%-22s %6d %8d\n\n", "total", total, failed)
	keys := make([]string, 0, len(r.timings))
	for k := range r.timings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ts := r.timings[k]
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		fmt.Printf("%-40s n=%-5d median %-10v p99 %-10v max %v\n", k, len(ts),
			round(ts[len(ts)/2]), round(ts[len(ts)*99/100]), round(ts[len(ts)-1]))
	}
	fkeys := make([]string, 0, len(r.figures))
	for k := range r.figures {
		fkeys = append(fkeys, k)
	}
	sort.Strings(fkeys)
	for _, k := range fkeys {
		fmt.Printf("%-40s %d\n", k, r.figures[k])
	}
	if failed == 0 {
		fmt.Println("\nno failures")
		return 0
	}
	fmt.Println("\nfailures:")
	for _, n := range append(names, "end") {
		for i, f := range r.failures[n] {
			if i == 5 {
				fmt.Printf("  %s: ... and %d more\n", n, len(r.failures[n])-5)
				break
			}
			fmt.Printf("  %s: %s\n", n, firstLines(f, 30))
		}
	}
	return 1
}

// round keeps three significant digits or so: microseconds under 10 ms.
func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n    ")
}
