package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"
)

// Calls makes n Command.Synopsis round trips on p, one after another, and
// returns the time they took.
func Calls(p *Plugin, n int) (time.Duration, error) {
	if p.Command == nil {
		return 0, errors.New("bench: Calls needs a command plugin")
	}
	t0 := time.Now()
	for range n {
		if s := p.Command.Synopsis(); s != Synopsis {
			return 0, fmt.Errorf("bench: %s: Synopsis returned %q", p.Side, s)
		}
	}
	return time.Since(t0), nil
}

// SetSays prepares p's builder so that each Run says n lines.
func SetSays(p *Plugin, n int) error {
	return p.Builder.Prepare(map[string]any{"says": n})
}

// Callbacks runs p's builder once with a CountingUi and returns how long
// the Run took and how many Ui.Say callbacks the host received.
func Callbacks(p *Plugin) (time.Duration, int64, error) {
	if p.Builder == nil {
		return 0, 0, errors.New("bench: Callbacks needs a builder plugin")
	}
	ui := &CountingUi{}
	t0 := time.Now()
	err := p.Builder.Run(context.Background(), nil, ui)
	return time.Since(t0), ui.Says(), err
}

// PrepareResult is one measured Builder.Prepare.
type PrepareResult struct {
	Time time.Duration
	// PeakHeap is the highest host heap (live and not yet swept objects)
	// seen during the call, above what it was just before it.
	PeakHeap uint64
	// Alloc is what the host allocated during the call.
	Alloc uint64
}

const (
	heapObjects = "/memory/classes/heap/objects:bytes"
	heapStacks  = "/memory/classes/heap/stacks:bytes"
	heapAllocs  = "/gc/heap/allocs:bytes"
)

func readMetrics(names ...string) []uint64 {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	out := make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			out[i] = s[i].Value.Uint64()
		}
	}
	return out
}

// Prepare collects garbage, then calls p's Builder.Prepare with config
// while a sampler reads the host's heap every 250 µs.
func Prepare(p *Plugin, config any) (PrepareResult, error) {
	runtime.GC()
	before := readMetrics(heapObjects, heapAllocs)
	stop := make(chan struct{})
	peakCh := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: heapObjects}}
		peak := before[0]
		tick := time.NewTicker(250 * time.Microsecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				peakCh <- peak
				return
			case <-tick.C:
			}
		}
	}()
	t0 := time.Now()
	err := p.Builder.Prepare(config)
	d := time.Since(t0)
	after := readMetrics(heapObjects, heapAllocs)
	close(stop)
	peak := max(<-peakCh, after[0])
	return PrepareResult{Time: d, PeakHeap: peak - before[0], Alloc: after[1] - before[1]}, err
}

var configs sync.Map // size -> any

// Config returns a JSON-shaped config, as encoding/json decodes a template
// into an any, whose JSON encoding is about size bytes: builder
// blocks with nested objects, arrays, numbers, booleans, nulls and strings.
// Configs are built once per size.
func Config(size int) any {
	if c, ok := configs.Load(size); ok {
		return c
	}
	var b strings.Builder
	b.WriteString(`{"says": 10, "builders": [`)
	for i := 0; b.Len() < size-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type": "noop", "name": "builder-%d", "region": "eu-west-%d", "count": %d, "ratio": %g,`+
			` "enabled": %t, "parent": null, "tags": {"team": "infra", "env": "bench-%d", "ünïcode": "€ %d ✓"},`+
			` "ports": [22, 80, 443, %d], "empty": {}, "none": [],`+
			` "provisioners": [{"type": "shell", "inline": ["echo step %d", "apt-get install -y pkg-%d"]},`+
			` {"type": "file", "source": "files/%d.tar.gz", "destination": "/tmp/%d"}],`+
			` "user_data": "%s"}`,
			i, i%8, i, float64(i)/7, i%2 == 0, i, i, i, i, i, i, i, strings.Repeat("x", 200+i%300))
	}
	b.WriteString(`]}`)
	var c any
	if err := json.Unmarshal([]byte(b.String()), &c); err != nil {
		panic(err) // the generator is wrong
	}
	c, _ = configs.LoadOrStore(size, c)
	return c
}

// StartResult is one plugin started until its first call returned, then
// killed.
type StartResult struct {
	Start, Kill time.Duration // wall time
	// StartCPU and KillCPU are the host process's CPU time during each,
	// including what its goroutines kept using for 20 ms after Kill
	// returned; -1 where the platform does not tell.
	StartCPU, KillCPU time.Duration
}

// StartFirstCall starts a command plugin on side, calls Synopsis once, and
// kills it.
func StartFirstCall(side Side, o Options) (StartResult, error) {
	var r StartResult
	c0, t0 := processCPU(), time.Now()
	p, err := Start(side, KindCommand, o)
	if err != nil {
		return r, err
	}
	if s := p.Command.Synopsis(); s != Synopsis {
		p.Kill()
		return r, fmt.Errorf("bench: %s: Synopsis returned %q", side, s)
	}
	r.Start, r.StartCPU = time.Since(t0), cpuSince(c0)
	c1, t1 := processCPU(), time.Now()
	p.Kill()
	r.Kill = time.Since(t1)
	time.Sleep(20 * time.Millisecond)
	r.KillCPU = cpuSince(c1)
	return r, nil
}

func cpuSince(c0 time.Duration) time.Duration {
	c := processCPU()
	if c < 0 || c0 < 0 {
		return -1
	}
	return c - c0
}

// StartMany starts n command plugins on side at once and waits until each
// one's first Synopsis returned or failed: wall is the time that took. It
// then kills them all (not timed) and returns how many failed and the
// first error.
func StartMany(side Side, n int, o Options) (wall time.Duration, failures int, err error) {
	var (
		mu      sync.Mutex
		plugins []*Plugin
		wg      sync.WaitGroup
	)
	t0 := time.Now()
	for range n {
		wg.Go(func() {
			p, e := Start(side, KindCommand, o)
			if e == nil {
				if s := p.Command.Synopsis(); s != Synopsis {
					e = fmt.Errorf("bench: %s: Synopsis returned %q", side, s)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if p != nil {
				plugins = append(plugins, p)
			}
			if e != nil {
				failures++
				if err == nil {
					err = e
				}
			}
		})
	}
	wg.Wait()
	wall = time.Since(t0)
	killAll(plugins)
	return wall, failures, err
}

func killAll(plugins []*Plugin) {
	var wg sync.WaitGroup
	for _, p := range plugins {
		wg.Go(p.Kill)
	}
	wg.Wait()
}

// IdleResult is the host's memory for connected idle plugins.
type IdleResult struct {
	// BytesPerPlugin is host heap and goroutine stacks per connected,
	// dispensed, idle builder plugin.
	BytesPerPlugin float64
	// GoroutinesPerPlugin is the host's goroutines per such plugin.
	GoroutinesPerPlugin float64
	// GrowthPerCall is how much the host's memory grew per call while each
	// plugin served a second batch of Calls Prepare+Run calls (with Ui
	// callbacks), after a first batch warmed everything up: about zero
	// when nothing is kept per call.
	GrowthPerCall float64
}

// settle collects garbage until the host's goroutine count is steady and
// returns its heap plus stacks and its goroutines.
func settle() (uint64, int) {
	var last int
	for i := 0; i < 50; i++ {
		runtime.GC()
		n := runtime.NumGoroutine()
		if i > 2 && n == last {
			break
		}
		last = n
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	m := readMetrics(heapObjects, heapStacks)
	return m[0] + m[1], runtime.NumGoroutine()
}

// IdleMemory starts n builder plugins on side and measures the host's
// memory per plugin once they are connected and idle; then it has each
// serve two batches of calls Prepare+Run pairs (10 callbacks each) and
// measures the growth per call over the second batch.
func IdleMemory(side Side, n, calls int, o Options) (IdleResult, error) {
	var r IdleResult
	// Warm the host up (type caches, pools) so that one-time costs do not
	// count for the side measured first.
	if p, err := Start(side, KindBuilder, o); err == nil {
		_, _, _ = Callbacks(p)
		p.Kill()
	}
	mem0, g0 := settle()
	plugins := make([]*Plugin, 0, n)
	defer func() { killAll(plugins) }()
	for range n {
		p, err := Start(side, KindBuilder, o)
		if err != nil {
			return r, err
		}
		plugins = append(plugins, p)
	}
	mem1, g1 := settle()
	batch := func() error {
		for _, p := range plugins {
			for range calls {
				if err := SetSays(p, 10); err != nil {
					return err
				}
				if _, _, err := Callbacks(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := batch(); err != nil {
		return r, err
	}
	mem2, _ := settle()
	if err := batch(); err != nil {
		return r, err
	}
	mem3, _ := settle()
	r.BytesPerPlugin = (float64(mem1) - float64(mem0)) / float64(n)
	r.GoroutinesPerPlugin = float64(g1-g0) / float64(n)
	if calls > 0 {
		r.GrowthPerCall = (float64(mem3) - float64(mem2)) / float64(n*calls)
	}
	return r, nil
}
