package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/plugwire/plugwire/internal/testutil"
)

// testSides are every side and variant a table can run.
func testSides() []Side {
	sides := []Side{Plugwire, Floor, Stock, Y2013, "plugwire+gmp1", "stock+gmp1"}
	for name := range Wrappers {
		sides = append(sides, Side("floor+"+name))
	}
	slices.Sort(sides)
	return sides
}

// Every side serves the same Builder and Command: a config crosses
// Prepare, every Ui.Say of a Run arrives complete and in order, Synopsis
// answers, and Kill ends the process.
func TestSides(t *testing.T) {
	for _, side := range testSides() {
		t.Run(string(side), func(t *testing.T) {
			t.Parallel()
			p, err := Start(side, KindBuilder, DefaultOptions)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			if err := p.Builder.Prepare(Config(64 << 10)); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if err := SetSays(p, 300); err != nil {
				t.Fatalf("Prepare says: %v", err)
			}
			ui := &CheckingUi{}
			if err := p.Builder.Run(context.Background(), nil, ui); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if n, err := ui.Result(); n != 300 || err != nil {
				t.Fatalf("Run said %d lines (want 300), problem: %v", n, err)
			}
			p.Kill()
			select {
			case <-p.Exited:
			case <-time.After(10 * time.Second):
				t.Fatal("the builder process did not exit after Kill")
			}

			if side == Y2013 {
				if _, err := Start(side, KindCommand, DefaultOptions); err == nil {
					t.Fatal("the 2013 side started a command plugin")
				}
				return
			}
			if _, err := StartFirstCall(side, DefaultOptions); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseSide(t *testing.T) {
	for _, bad := range []Side{"", "plugwire2", "stock+nope", "plugwire+muxconn", "floor+muxconn+muxconn"} {
		if _, err := parseSide(bad); err == nil {
			t.Errorf("parseSide(%q) succeeded", bad)
		}
	}
	sp, err := parseSide("floor+muxconn+gmp1")
	if err != nil || sp.base != Floor || sp.wrap == nil || !sp.gmp1 {
		t.Errorf("parseSide(floor+muxconn+gmp1) = %+v, %v", sp, err)
	}
}

func TestConfigSize(t *testing.T) {
	for _, size := range []int{4 << 10, 1 << 20} {
		c := Config(size)
		b := fmt.Sprint(c)
		if len(b) < size/2 {
			t.Errorf("Config(%d) is only %d bytes printed", size, len(b))
		}
		m, ok := c.(map[string]any)
		if !ok || m["says"] != float64(10) {
			t.Errorf("Config(%d) has no says member", size)
		}
	}
}

func TestMedianAndRatios(t *testing.T) {
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("Median odd = %v", m)
	}
	if m := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("Median even = %v", m)
	}
	r := RoundRatios([]float64{2, 4, 6}, []float64{1, 0, 3})
	if !slices.Equal(r, []float64{2, 2}) {
		t.Errorf("RoundRatios = %v", r)
	}
	q1, q3 := quartiles([]float64{1, 2, 3, 4, 5})
	if q1 != 2 || q3 != 4 {
		t.Errorf("quartiles = %v, %v", q1, q3)
	}
}

// The table runs end to end and prints one line per metric with the
// ratio columns.
func TestTable(t *testing.T) {
	cfg := DefaultTableConfig
	cfg.Rounds = 2
	cfg.Calls = 5
	cfg.Says = 5
	cfg.Scenarios = []string{"call", "callback"}
	rows, err := RunTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintTable(&out, cfg.Sides, cfg.Rounds, rows); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"plugwire/stock", "plugwire/floor", "Command.Synopsis round trip", "Ui.Say callback", "2013"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if len(rows) != 2 || len(rows[1].Values[Y2013]) != 2 {
		t.Errorf("rows = %+v", rows)
	}
}

// Every experimental wrapper carries yamux unchanged: many concurrent
// streams echo payloads around the frame header's size and larger, and
// closing a session ends the other side's reads.
func TestWrappersUnderYamux(t *testing.T) {
	for name, wrap := range Wrappers {
		t.Run(name, func(t *testing.T) {
			c, s := testutil.TCPPair(t)
			cfg := yamux.DefaultConfig()
			cfg.LogOutput = io.Discard
			cs, err := yamux.Client(wrap(c), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ss, err := yamux.Server(wrap(s), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var served sync.WaitGroup
			served.Go(func() {
				for {
					st, err := ss.AcceptStream()
					if err != nil {
						return
					}
					served.Go(func() {
						defer st.Close()
						_, _ = io.Copy(st, st)
					})
				}
			})
			sizes := []int{1, 11, 12, 13, 100, 4095, 4096, 70000, 300000}
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for id := range 32 {
				wg.Go(func() {
					st, err := cs.OpenStream()
					if err != nil {
						errs <- err
						return
					}
					defer st.Close()
					for _, n := range sizes {
						msg := bytes.Repeat([]byte{byte(id), byte(n)}, n/2+1)[:n]
						go func() { _, _ = st.Write(msg) }()
						got := make([]byte, n)
						if _, err := io.ReadFull(st, got); err != nil {
							errs <- fmt.Errorf("stream %d, %d bytes: %w", id, n, err)
							return
						}
						if !bytes.Equal(got, msg) {
							errs <- fmt.Errorf("stream %d, %d bytes: payload changed", id, n)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			done := make(chan struct{})
			go func() {
				_ = cs.Close()
				<-ss.CloseChan()
				served.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("closing the client session did not end the server's")
			}
			_ = ss.Close()
		})
	}
}
