package bench

import (
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunHelperIfRequested()
	os.Exit(m.Run())
}

// CallSides are the sides of every scenario; CallbackSides adds 2013.
var (
	CallSides     = []Side{Plugwire, Floor, Stock}
	CallbackSides = []Side{Plugwire, Floor, Stock, Y2013}
)

func startB(b *testing.B, side Side, kind Kind) *Plugin {
	b.Helper()
	p, err := Start(side, kind, DefaultOptions)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Kill)
	return p
}

// BenchmarkCall is one host -> plugin round trip: Command.Synopsis.
func BenchmarkCall(b *testing.B) {
	for _, side := range CallSides {
		b.Run(string(side), func(b *testing.B) {
			p := startB(b, side, KindCommand)
			if _, err := Calls(p, 10); err != nil { // warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			if _, err := Calls(p, b.N); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkCallback is one Builder.Run of DefaultSays Ui.Say callbacks
// per op; ns/callback is the figure to read.
func BenchmarkCallback(b *testing.B) {
	for _, side := range CallbackSides {
		b.Run(string(side), func(b *testing.B) {
			p := startB(b, side, KindBuilder)
			if err := SetSays(p, 10); err != nil {
				b.Fatal(err)
			}
			if _, _, err := Callbacks(p); err != nil { // warm up
				b.Fatal(err)
			}
			if err := SetSays(p, DefaultSays); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var says int64
			for range b.N {
				_, n, err := Callbacks(p)
				if err != nil {
					b.Fatal(err)
				}
				says += n
			}
			if says != int64(b.N*DefaultSays) {
				b.Fatalf("host got %d callbacks, want %d", says, b.N*DefaultSays)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(says), "ns/callback")
		})
	}
}

// BenchmarkPrepare is Builder.Prepare with a JSON-shaped config of 4 and
// 64 MiB, with the host's peak heap during the call.
func BenchmarkPrepare(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"4MiB", 4 << 20}, {"64MiB", 64 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			config := Config(size.bytes)
			for _, side := range CallSides {
				b.Run(string(side), func(b *testing.B) {
					p := startB(b, side, KindBuilder)
					b.ResetTimer()
					var peak, alloc uint64
					var total time.Duration
					for range b.N {
						r, err := Prepare(p, config)
						if err != nil {
							b.Fatal(err)
						}
						total += r.Time
						peak = max(peak, r.PeakHeap)
						alloc += r.Alloc
					}
					b.StopTimer()
					b.ReportMetric(0, "ns/op")
					b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/prepare")
					b.ReportMetric(float64(peak), "peak-heap-B")
					b.ReportMetric(float64(alloc)/float64(b.N), "alloc-B/op")
				})
			}
		})
	}
}

// BenchmarkStart starts a command plugin until its first Synopsis returns
// (ns/start) and kills it (ns/kill, reported apart), with the host's CPU
// time for each.
func BenchmarkStart(b *testing.B) {
	for _, side := range CallSides {
		b.Run(string(side), func(b *testing.B) {
			var sum StartResult
			for range b.N {
				r, err := StartFirstCall(side, DefaultOptions)
				if err != nil {
					b.Fatal(err)
				}
				sum.Start += r.Start
				sum.Kill += r.Kill
				sum.StartCPU += r.StartCPU
				sum.KillCPU += r.KillCPU
			}
			b.ReportMetric(0, "ns/op")
			per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
			b.ReportMetric(per(sum.Start), "ns/start")
			b.ReportMetric(per(sum.Kill), "ns/kill")
			if sum.StartCPU >= 0 {
				b.ReportMetric(per(sum.StartCPU), "host-cpu-ns/start")
				b.ReportMetric(per(sum.KillCPU), "host-cpu-ns/kill")
			}
		})
	}
}

// Start64Options is the 100-port range the 64 plugins of BenchmarkStart64
// share.
var Start64Options = Options{MinPort: 31100, MaxPort: 31199, StartTimeout: time.Minute}

// BenchmarkStart64 starts 64 command plugins at once from one host within
// a 100-port range, each until its first Synopsis returns; every one must
// succeed. ns/op is the wall time.
func BenchmarkStart64(b *testing.B) {
	for _, side := range CallSides {
		b.Run(string(side), func(b *testing.B) {
			var wall time.Duration
			for range b.N {
				w, failures, err := StartMany(side, 64, Start64Options)
				if failures > 0 {
					b.Fatalf("%d of 64 failed; first: %v", failures, err)
				}
				wall += w
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N), "ns/64starts")
		})
	}
}

// BenchmarkIdle is the host's memory per connected idle builder plugin, and
// its growth per call after each plugin served 20 Prepare+Run calls.
func BenchmarkIdle(b *testing.B) {
	for _, side := range CallSides {
		b.Run(string(side), func(b *testing.B) {
			var r IdleResult
			for range b.N {
				var err error
				if r, err = IdleMemory(side, 8, 20, DefaultOptions); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(r.BytesPerPlugin, "B/plugin")
			b.ReportMetric(r.GoroutinesPerPlugin, "goroutines/plugin")
			b.ReportMetric(r.GrowthPerCall, "B/call-growth")
		})
	}
}
