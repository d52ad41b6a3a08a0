package bench

import (
	"testing"
)

// streamOp is what one op of BenchmarkStream moves; benchtable's upload
// and download scenarios move a GiB per round.
const streamOp = 64 << 20

// Every way of the stream scenarios moves exactly what was asked, both
// ways, and the small calls answer.
func TestStreamSides(t *testing.T) {
	p, err := StartStream(DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	g, err := StartGRPCStream(DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Kill()
	for _, size := range []int64{0, 1, CopyBuf + 1, 3<<20 + 7} {
		for name, run := range map[string]func() (StreamResult, error){
			"contract upload":   func() (StreamResult, error) { return ContractUpload(p, size) },
			"contract download": func() (StreamResult, error) { return ContractDownload(p, size) },
			"tcp upload":        func() (StreamResult, error) { return TCPUpload(p, size) },
			"tcp download":      func() (StreamResult, error) { return TCPDownload(p, size) },
			"broker upload":     func() (StreamResult, error) { return BrokerUpload(p, size) },
			"broker download":   func() (StreamResult, error) { return BrokerDownload(p, size) },
			"grpc upload":       func() (StreamResult, error) { return GRPCUpload(g, size) },
			"grpc download":     func() (StreamResult, error) { return GRPCDownload(g, size) },
		} {
			if _, err := run(); err != nil {
				t.Errorf("%s of %d bytes: %v", name, size, err)
			}
		}
	}
	for _, k := range []string{"small", "ctx", "prepare"} {
		if _, err := SmallCalls(p, 3, k); err != nil {
			t.Errorf("small calls %s: %v", k, err)
		}
	}
}

// BenchmarkStream moves streamOp bytes per op through the Communicator
// contract, plain TCP between the same processes, and go-plugin's gRPC
// streaming.
func BenchmarkStream(b *testing.B) {
	p, err := StartStream(DefaultOptions)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Kill)
	g, err := StartGRPCStream(DefaultOptions)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Kill)
	for _, bc := range []struct {
		name string
		run  func() (StreamResult, error)
	}{
		{"upload/contract", func() (StreamResult, error) { return ContractUpload(p, streamOp) }},
		{"upload/tcp", func() (StreamResult, error) { return TCPUpload(p, streamOp) }},
		{"upload/broker", func() (StreamResult, error) { return BrokerUpload(p, streamOp) }},
		{"upload/grpc", func() (StreamResult, error) { return GRPCUpload(g, streamOp) }},
		{"download/contract", func() (StreamResult, error) { return ContractDownload(p, streamOp) }},
		{"download/tcp", func() (StreamResult, error) { return TCPDownload(p, streamOp) }},
		{"download/broker", func() (StreamResult, error) { return BrokerDownload(p, streamOp) }},
		{"download/grpc", func() (StreamResult, error) { return GRPCDownload(g, streamOp) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(streamOp)
			for b.Loop() {
				if _, err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSmallCall is a contract call with small arguments, without and
// with a context, and Builder.Prepare with a small config, on one plugin.
func BenchmarkSmallCall(b *testing.B) {
	p, err := StartStream(DefaultOptions)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Kill)
	for _, k := range []string{"small", "ctx", "prepare"} {
		b.Run(k, func(b *testing.B) {
			if _, err := SmallCalls(p, 10, k); err != nil { // warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			if _, err := SmallCalls(p, b.N, k); err != nil {
				b.Fatal(err)
			}
		})
	}
}
