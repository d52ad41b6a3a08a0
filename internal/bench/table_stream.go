package bench

import (
	"fmt"
	"slices"
)

// onlyPlugwire runs a scenario on the plugwire side alone: its rows
// compare plugwire with peers it measures itself, in the same round.
func onlyPlugwire(sides []Side) []Side {
	if slices.Contains(sides, Plugwire) {
		return []Side{Plugwire}
	}
	return nil
}

// streamState is what the stream scenarios keep across rounds.
type streamState struct {
	p     *StreamPlugin
	g     *GRPCStream // nil when the gRPC peer did not start
	round int
}

func (s *streamState) kill() {
	s.p.Kill()
	if s.g != nil {
		s.g.Kill()
	}
}

func startStreams(cfg TableConfig, grpcPeer bool) (any, error) {
	p, err := StartStream(cfg.Options)
	if err != nil {
		return nil, err
	}
	st := &streamState{p: p}
	if grpcPeer {
		if st.g, err = StartGRPCStream(cfg.Options); err != nil {
			p.Kill()
			return nil, err
		}
	}
	return st, nil
}

// streamScenario moves cfg.StreamSize bytes per round through the
// Communicator contract ("upload" or "download"), a plain TCP connection
// between the same two processes, a bare MuxBroker stream of the
// contract's own connection, and go-plugin's gRPC streaming, in an order
// that turns with the rounds.
func streamScenario(cfg TableConfig, dir string) Scenario {
	name := fmt.Sprintf("Upload %s", sizeName(cfg.StreamSize))
	contractFn, tcpFn, grpcFn, brokerFn := ContractUpload, TCPUpload, GRPCUpload, BrokerUpload
	if dir == "download" {
		name = fmt.Sprintf("Download %s", sizeName(cfg.StreamSize))
		contractFn, tcpFn, grpcFn, brokerFn = ContractDownload, TCPDownload, GRPCDownload, BrokerDownload
	}
	mbps := func(n string) Metric { return Metric{Name: n, Unit: "MB/s", Scale: 1} }
	ratio := func(n string) Metric { return Metric{Name: n, Unit: "×", Scale: 1, Spread: true} }
	rss := func(n string) Metric { return Metric{Name: n, Unit: "MiB", Scale: 1 << 20, Max: true, NoRatio: true} }
	return Scenario{
		Name: dir,
		Metrics: []Metric{
			mbps(name + ", contract"),
			mbps("  plain loopback TCP, same processes"),
			ratio("  contract / TCP (per round)"),
			mbps("  bare MuxBroker stream, same connection"),
			ratio("  contract / MuxBroker stream (per round)"),
			ratio("  MuxBroker stream / TCP (per round)"),
			mbps("  go-plugin gRPC stream"),
			ratio("  contract / gRPC (per round)"),
			rss("  host peak RSS growth, contract (max)"),
			rss("  plugin peak RSS growth, contract (max)"),
			rss("  host peak RSS growth, TCP (max)"),
			rss("  plugin peak RSS growth, TCP (max)"),
			rss("  host peak RSS growth, gRPC (max)"),
			rss("  plugin peak RSS growth, gRPC (max)"),
		},
		Sides:    onlyPlugwire,
		Setup:    func(Side) (any, error) { return startStreams(cfg, true) },
		Teardown: func(s any) { s.(*streamState).kill() },
		OptIn:    true,
		Measure: func(_ Side, s any) ([]float64, error) {
			st := s.(*streamState)
			size := cfg.StreamSize
			var c, t, b, g StreamResult
			runs := []func() error{
				func() (err error) { c, err = contractFn(st.p, size); return },
				func() (err error) { t, err = tcpFn(st.p, size); return },
				func() (err error) { b, err = brokerFn(st.p, size); return },
				func() (err error) { g, err = grpcFn(st.g, size); return },
			}
			for i := range runs {
				if err := runs[(i+st.round)%len(runs)](); err != nil {
					return nil, err
				}
			}
			st.round++
			cm, tm, bm, gm := c.MBps(size), t.MBps(size), b.MBps(size), g.MBps(size)
			return []float64{cm, tm, cm / tm, bm, cm / bm, bm / tm, gm, cm / gm,
				float64(c.HostPeak), float64(c.PluginPeak),
				float64(t.HostPeak), float64(t.PluginPeak),
				float64(g.HostPeak), float64(g.PluginPeak)}, nil
		},
	}
}

// smallScenario compares a contract call with small arguments to
// Builder.Prepare with a small config, served by the same process.
func smallScenario(cfg TableConfig) Scenario {
	us := func(n string) Metric { return Metric{Name: n, Unit: "µs", Scale: 1e3} }
	ratio := func(n string) Metric { return Metric{Name: n, Unit: "×", Scale: 1, Spread: true} }
	return Scenario{
		Name: "small",
		Metrics: []Metric{
			us("contract call, small args"),
			us("  the same with a context"),
			us("  Builder.Prepare, small config"),
			ratio("  contract / Prepare (per round)"),
			ratio("  contract with context / Prepare (per round)"),
		},
		Sides:    onlyPlugwire,
		Setup:    func(Side) (any, error) { return startStreams(cfg, false) },
		Teardown: func(s any) { s.(*streamState).kill() },
		OptIn:    true,
		Measure: func(_ Side, s any) ([]float64, error) {
			st := s.(*streamState)
			kinds := []string{"small", "ctx", "prepare"}
			d := map[string]float64{}
			for i := range kinds {
				k := kinds[(i+st.round)%len(kinds)]
				t, err := SmallCalls(st.p, cfg.Calls, k)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				d[k] = float64(t)
			}
			st.round++
			return []float64{d["small"], d["ctx"], d["prepare"], d["small"] / d["prepare"], d["ctx"] / d["prepare"]}, nil
		},
	}
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}
