package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Metric is one number a scenario measures, and how to show it.
type Metric struct {
	Name  string  // what is measured, e.g. "call"
	Unit  string  // the unit shown, e.g. "µs"
	Scale float64 // shown value = measured value / Scale
	// Total sums the value over rounds instead of taking its median
	// (counts such as failures), and takes no ratio.
	Total bool
	// NoRatio shows no ratio (for values around zero).
	NoRatio bool
	// Mean shows the mean over rounds instead of the median (for costs
	// whose rare outliers matter).
	Mean bool
	// Max shows the largest value over rounds (for bounds).
	Max bool
	// Spread shows the interquartile range after the median (for ratios
	// measured within a round).
	Spread bool
}

// Scenario is one row group of the table: it runs on some sides, keeps
// per-side state across rounds, and measures its Metrics once per round.
type Scenario struct {
	Name    string
	Metrics []Metric
	// Sides picks the sides it runs on from the table's sides.
	Sides func([]Side) []Side
	// Setup prepares a side before the first round (say, starts its
	// plugin); it may return nil state.
	Setup func(Side) (any, error)
	// Measure measures one round on one side: one value per Metric.
	Measure func(side Side, state any) ([]float64, error)
	// Teardown releases a side's state after the last round.
	Teardown func(any)
	// OptIn scenarios run only when named (they take minutes).
	OptIn bool
}

// TableConfig says what the table runs.
type TableConfig struct {
	Sides     []Side   // the sides; ratios are of the first against the others
	Scenarios []string // names of scenarios to run (nil: all)
	Rounds    int      // rounds; sides alternate within each round
	Calls     int      // Synopsis calls per round and side
	Says      int      // Ui.Say callbacks per Run
	Plugins   int      // idle plugins per side for the memory scenario
	Options   Options  // ports of the TCP sides
	Start64   Options  // the 100-port range of the 64-plugin start
	// StreamSize is how many bytes each round of the upload and download
	// scenarios moves.
	StreamSize int64
	Progress   io.Writer
}

// DefaultTableConfig is what `go -C internal/bench run ./cmd/benchtable` runs.
var DefaultTableConfig = TableConfig{
	Sides:   []Side{Plugwire, Floor, Stock},
	Rounds:  11,
	Calls:   1000,
	Says:    DefaultSays,
	Plugins: 8,
	Options: DefaultOptions,
	Start64: Options{MinPort: 31100, MaxPort: 31199, StartTimeout: time.Minute},
	// A GiB, as issue 19 asks.
	StreamSize: 1 << 30,
}

func withoutSide(s Side) func([]Side) []Side {
	return func(sides []Side) []Side {
		return slices.DeleteFunc(slices.Clone(sides), func(x Side) bool { return x == s })
	}
}

// withY2013 adds the 2013 side, once, to the sides.
func withY2013(sides []Side) []Side {
	if slices.Contains(sides, Y2013) {
		return sides
	}
	return append(slices.Clone(sides), Y2013)
}

func killState(s any) {
	if p, ok := s.(*Plugin); ok {
		p.Kill()
	}
}

// Scenarios returns the table's scenarios for cfg, in table order.
func Scenarios(cfg TableConfig) []Scenario {
	noY2013 := withoutSide(Y2013)
	startBuilder := func(side Side) (any, error) {
		p, err := Start(side, KindBuilder, cfg.Options)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	prepare := func(name string, size int) Scenario {
		return Scenario{
			Name: name,
			Metrics: []Metric{
				{Name: "Prepare " + name, Unit: "ms", Scale: 1e6},
				{Name: "  host peak heap", Unit: "MiB", Scale: 1 << 20},
			},
			Sides: noY2013,
			Setup: func(side Side) (any, error) {
				Config(size)
				return startBuilder(side)
			},
			Measure: func(_ Side, s any) ([]float64, error) {
				r, err := Prepare(s.(*Plugin), Config(size))
				return []float64{float64(r.Time), float64(r.PeakHeap)}, err
			},
			Teardown: killState,
		}
	}
	return []Scenario{{
		Name:    "call",
		Metrics: []Metric{{Name: "Command.Synopsis round trip", Unit: "µs", Scale: 1e3}},
		Sides:   noY2013,
		Setup: func(side Side) (any, error) {
			p, err := Start(side, KindCommand, cfg.Options)
			if err != nil {
				return nil, err
			}
			if _, err := Calls(p, 100); err != nil {
				p.Kill()
				return nil, err
			}
			return p, nil
		},
		Measure: func(_ Side, s any) ([]float64, error) {
			d, err := Calls(s.(*Plugin), cfg.Calls)
			return []float64{float64(d) / float64(cfg.Calls)}, err
		},
		Teardown: killState,
	}, {
		Name:    "callback",
		Metrics: []Metric{{Name: fmt.Sprintf("Ui.Say callback (%d per Run)", cfg.Says), Unit: "µs", Scale: 1e3}},
		Sides:   withY2013,
		Setup: func(side Side) (any, error) {
			s, err := startBuilder(side)
			if err != nil {
				return nil, err
			}
			p := s.(*Plugin)
			if err := SetSays(p, cfg.Says); err != nil {
				p.Kill()
				return nil, err
			}
			return p, nil
		},
		Measure: func(_ Side, s any) ([]float64, error) {
			d, n, err := Callbacks(s.(*Plugin))
			if err == nil && n != int64(cfg.Says) {
				err = fmt.Errorf("host got %d callbacks, want %d", n, cfg.Says)
			}
			return []float64{float64(d) / float64(cfg.Says)}, err
		},
		Teardown: killState,
	},
		prepare("4MiB", 4<<20),
		prepare("64MiB", 64<<20),
		{
			Name: "start",
			Metrics: []Metric{
				{Name: "start to first call", Unit: "ms", Scale: 1e6},
				{Name: "  host CPU (mean)", Unit: "ms", Scale: 1e6, Mean: true},
				{Name: "kill (apart)", Unit: "ms", Scale: 1e6},
				{Name: "  host CPU, incl. 20 ms after (mean)", Unit: "ms", Scale: 1e6, Mean: true},
			},
			Sides: noY2013,
			Measure: func(side Side, _ any) ([]float64, error) {
				r, err := StartFirstCall(side, cfg.Options)
				return []float64{float64(r.Start), float64(r.StartCPU), float64(r.Kill), float64(r.KillCPU)}, err
			},
		}, {
			Name: "start64",
			Metrics: []Metric{
				{Name: "64 starts at once, wall", Unit: "ms", Scale: 1e6},
				{Name: "  failures (total)", Unit: "", Scale: 1, Total: true},
			},
			Sides: noY2013,
			Measure: func(side Side, _ any) ([]float64, error) {
				w, failures, err := StartMany(side, 64, cfg.Start64)
				if failures > 0 && cfg.Progress != nil {
					fmt.Fprintf(cfg.Progress, "  start64 %s: %d failures, first: %v\n", side, failures, err)
				}
				return []float64{float64(w), float64(failures)}, nil
			},
		}, {
			Name: "idle",
			Metrics: []Metric{
				{Name: "host memory per idle plugin", Unit: "KiB", Scale: 1 << 10},
				{Name: "  host goroutines per plugin", Unit: "", Scale: 1},
				{Name: "  growth per call after warm-up", Unit: "B", Scale: 1, NoRatio: true},
			},
			Sides: noY2013,
			Measure: func(side Side, _ any) ([]float64, error) {
				r, err := IdleMemory(side, cfg.Plugins, 20, cfg.Options)
				return []float64{r.BytesPerPlugin, r.GoroutinesPerPlugin, r.GrowthPerCall}, err
			},
		},
		streamScenario(cfg, "upload"),
		streamScenario(cfg, "download"),
		smallScenario(cfg),
	}
}

// Row is one metric of one scenario: per side, the value of every round.
type Row struct {
	Metric Metric
	Values map[Side][]float64
}

// RunTable runs cfg's scenarios, round after round, alternating the order
// of the sides in each round, and returns one Row per metric.
func RunTable(cfg TableConfig) ([]Row, error) {
	var rows []Row
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	for _, sc := range Scenarios(cfg) {
		if named := slices.Contains(cfg.Scenarios, sc.Name); !named && (cfg.Scenarios != nil || sc.OptIn) {
			continue
		}
		sides := sc.Sides(cfg.Sides)
		t0 := time.Now()
		fmt.Fprintf(progress, "%s: %d rounds on %v ...", sc.Name, cfg.Rounds, sides)
		states := map[Side]any{}
		teardown := func() {
			if sc.Teardown != nil {
				for _, s := range states {
					sc.Teardown(s)
				}
			}
		}
		for _, side := range sides {
			if sc.Setup == nil {
				continue
			}
			s, err := sc.Setup(side)
			if err != nil {
				teardown()
				return rows, fmt.Errorf("%s on %s: %w", sc.Name, side, err)
			}
			states[side] = s
		}
		scRows := make([]Row, len(sc.Metrics))
		for i, m := range sc.Metrics {
			scRows[i] = Row{Metric: m, Values: map[Side][]float64{}}
		}
		for r := 0; r < cfg.Rounds; r++ {
			for i := range sides {
				side := sides[(i+r)%len(sides)]
				vals, err := sc.Measure(side, states[side])
				if err != nil {
					teardown()
					return rows, fmt.Errorf("%s on %s, round %d: %w", sc.Name, side, r+1, err)
				}
				for j, v := range vals {
					scRows[j].Values[side] = append(scRows[j].Values[side], v)
				}
			}
		}
		teardown()
		fmt.Fprintf(progress, " %.1fs\n", time.Since(t0).Seconds())
		rows = append(rows, scRows...)
	}
	return rows, nil
}

// Median returns the median of xs (NaN for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quartiles returns the first and third quartiles of xs.
func quartiles(xs []float64) (q1, q3 float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(p float64) float64 {
		x := p * float64(len(s)-1)
		i := int(x)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (x-float64(i))*(s[i+1]-s[i])
	}
	return at(0.25), at(0.75)
}

// RoundRatios returns a/b per round, for rounds where both were measured.
func RoundRatios(a, b []float64) []float64 {
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// Machine describes this machine for the table's header.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, nproc %d, GOMAXPROCS %d, %s %s/%s%s",
		cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel)
}

// LoadAverage returns /proc/loadavg's first three fields, or "".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func fmtVal(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// PrintTable writes rows as a table: the median of each side (the mean or
// total where the metric says so), then the median over rounds of the
// per-round ratio of the first side to each other side, with its
// interquartile range.
func PrintTable(w io.Writer, sides []Side, rounds int, rows []Row) error {
	if len(sides) == 0 {
		return errors.New("bench: no sides")
	}
	all := slices.Clone(sides)
	for _, r := range rows {
		for s := range r.Values {
			if !slices.Contains(all, s) {
				all = append(all, s)
			}
		}
	}
	var table [][]string
	head := []string{"metric", "unit"}
	for _, s := range all {
		head = append(head, string(s))
	}
	for _, s := range sides[1:] {
		head = append(head, fmt.Sprintf("%s/%s", sides[0], s), "IQR")
	}
	table = append(table, head)
	for _, r := range rows {
		line := []string{r.Metric.Name, r.Metric.Unit}
		for _, s := range all {
			vs, ok := r.Values[s]
			switch {
			case !ok:
				line = append(line, "")
			case r.Metric.Max:
				line = append(line, fmtVal(slices.Max(vs)/r.Metric.Scale))
			case r.Metric.Spread:
				q1, q3 := quartiles(vs)
				line = append(line, fmt.Sprintf("%.3f (%.2f-%.2f)", Median(vs), q1, q3))
			case r.Metric.Total, r.Metric.Mean:
				var t float64
				for _, v := range vs {
					t += v
				}
				if r.Metric.Mean {
					t /= float64(len(vs))
				}
				line = append(line, fmtVal(t/r.Metric.Scale))
			default:
				line = append(line, fmtVal(Median(vs)/r.Metric.Scale))
			}
		}
		for _, s := range sides[1:] {
			ratios := RoundRatios(r.Values[sides[0]], r.Values[s])
			if r.Metric.Total || r.Metric.NoRatio || r.Metric.Spread || len(ratios) == 0 {
				line = append(line, "", "")
				continue
			}
			q1, q3 := quartiles(ratios)
			line = append(line, fmt.Sprintf("%.3f", Median(ratios)), fmt.Sprintf("%.2f-%.2f", q1, q3))
		}
		table = append(table, line)
	}
	widths := make([]int, len(head))
	for _, line := range table {
		for i, c := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, line := range table {
		var b strings.Builder
		for i, c := range line {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " ")); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "medians of %d rounds (means where marked); ratios are medians of per-round ratios (sides alternate in each round), IQR their interquartile range\n", rounds)
	return err
}
