package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// The stream benchmarks (issue 19) move bytes through the example
// Communicator contract (examples/contracts) and, between the same two
// processes, through a plain loopback TCP connection the plugin opens for
// it: the floor any transport over loopback TCP has. Every side copies
// with the same source, sink and buffer size, so only the transport
// differs.

// KindStream is the helper serving the Communicator, the Probe and a
// Builder from one plugwire plugin set.
const KindStream Kind = "stream"

// CopyBuf is the buffer every side of the stream benchmarks copies with:
// the contract's stream chunk.
const CopyBuf = 64 << 10

// Probe is the bench's own contract: a small call, and the plain TCP
// copies the streams are compared with.
type Probe interface {
	// Small is a call with small arguments and no context, as
	// Builder.Prepare has none.
	Small(name string, n int) error
	// SmallCtx is Small with a context.
	SmallCtx(ctx context.Context, name string, n int) error
	// Pid returns the plugin's process id.
	Pid() (int, error)
	// TCP listens on loopback and returns the address; the one connection
	// it accepts is read to its end and answered with the count (upload),
	// or gets size bytes (download).
	TCP(ctx context.Context, upload bool, size int64) (string, error)
}

// Probes is the Probe contract.
var Probes = contract.New[Probe](func(c *contract.Client) Probe { return probeClient{c} })

type probeClient struct{ c *contract.Client }

func (p probeClient) Small(name string, n int) error { return p.c.Call("Small", name, n) }
func (p probeClient) SmallCtx(ctx context.Context, name string, n int) error {
	return p.c.Call("SmallCtx", ctx, name, n)
}
func (p probeClient) Pid() (int, error) { return contract.Call1[int](p.c, "Pid") }
func (p probeClient) TCP(ctx context.Context, upload bool, size int64) (string, error) {
	return contract.Call1[string](p.c, "TCP", ctx, upload, size)
}

type probe struct{}

func (probe) Small(name string, n int) error {
	if name == "" || n < 0 {
		return errors.New("bad arguments")
	}
	return nil
}

func (p probe) SmallCtx(_ context.Context, name string, n int) error { return p.Small(name, n) }

func (probe) Pid() (int, error) { return os.Getpid(), nil }

func (probe) TCP(_ context.Context, upload bool, size int64) (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		defer ln.Close()
		if tl, ok := ln.(*net.TCPListener); ok {
			_ = tl.SetDeadline(time.Now().Add(time.Minute))
		}
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, CopyBuf)
		if upload {
			n, _ := io.CopyBuffer(&Sink{}, onlyReader{conn}, buf)
			_ = binary.Write(conn, binary.BigEndian, n)
			return
		}
		_, _ = io.CopyBuffer(onlyWriter{conn}, NewSource(size), buf)
	}()
	return ln.Addr().String(), nil
}

// benchComm is the Communicator the stream plugin serves: Upload counts
// what it reads, Download writes the number of bytes src names.
type benchComm struct{}

func (benchComm) Upload(_ context.Context, _ string, r io.Reader) (int64, error) {
	return io.CopyBuffer(&Sink{}, onlyReader{r}, make([]byte, CopyBuf))
}

func (benchComm) Download(_ context.Context, src string, w io.Writer) (int64, error) {
	size, err := strconv.ParseInt(src, 10, 64)
	if err != nil {
		return 0, err
	}
	return io.CopyBuffer(onlyWriter{w}, NewSource(size), make([]byte, CopyBuf))
}

// Source yields a given number of bytes from a fixed pattern: a copy per
// Read, as any reader makes, and no allocation.
type Source struct{ left int64 }

// NewSource returns a Source of size bytes.
func NewSource(size int64) *Source { return &Source{left: size} }

var pattern = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

func (s *Source) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), s.left)], pattern)
	s.left -= int64(n)
	return n, nil
}

// Sink counts what is written to it.
type Sink struct{ N int64 }

func (s *Sink) Write(p []byte) (int, error) { s.N += int64(len(p)); return len(p), nil }

// onlyReader and onlyWriter hide ReaderFrom and WriterTo, so that every
// side copies through the same buffer.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

func serveStream() {
	s := plugwire.NewSet()
	s.Register(contracts.CommunicatorKind, "bench", contracts.Communicators.Plugin(benchComm{}))
	s.Register("probe", "bench", Probes.Plugin(probe{}))
	s.RegisterBuilder("bench", &Builder{})
	s.Register("broker", "bench", brokerPlugin{})
	s.Run()
}

// StreamPlugin is the stream helper as its host holds it.
type StreamPlugin struct {
	Comm    contracts.Communicator
	Probe   Probe
	Builder shared.Builder
	Broker  *BrokerStreams
	Pid     int
	client  *host.Client
}

// Kill ends the plugin.
func (p *StreamPlugin) Kill() { p.client.Kill() }

// StartStream starts the stream helper and dispenses its components.
func StartStream(o Options) (*StreamPlugin, error) {
	cmd, err := helperCmd(Plugwire, KindStream, o, false)
	if err != nil {
		return nil, err
	}
	c := plugwireClient(cmd, o, map[string]plugin.Plugin{
		contracts.CommunicatorKind: contracts.Communicators.Plugin(nil),
		"probe":                    Probes.Plugin(nil),
		shared.BuilderPluginName:   &shared.BuilderPlugin{},
		"broker":                   brokerPlugin{},
	})
	p := &StreamPlugin{client: c}
	if p.Comm, err = host.Dispense[contracts.Communicator](c, "communicator/bench"); err == nil {
		if p.Probe, err = host.Dispense[Probe](c, "probe/bench"); err == nil {
			if p.Builder, err = host.Dispense[shared.Builder](c, "builder/bench"); err == nil {
				var raw any
				if raw, err = c.Dispense("broker/bench"); err == nil {
					p.Broker = raw.(*BrokerStreams)
					p.Pid, err = p.Probe.Pid()
				}
			}
		}
	}
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("bench: stream plugin: %w", err)
	}
	return p, nil
}

// StreamResult is one copy of a stream benchmark.
type StreamResult struct {
	Time time.Duration
	// HostPeak and PluginPeak are how far each process's peak resident
	// set rose above its resident set at the start (-1: not known).
	HostPeak, PluginPeak int64
}

// MBps is the throughput of size bytes in r.Time, in MB/s.
func (r StreamResult) MBps(size int64) float64 { return float64(size) / 1e6 / r.Time.Seconds() }

// measure runs copy between resets of the two processes' peak RSS.
func measure(pid int, size int64, copy func() (int64, error)) (StreamResult, error) {
	h0, p0 := resetPeak(os.Getpid()), resetPeak(pid)
	t0 := time.Now()
	n, err := copy()
	r := StreamResult{Time: time.Since(t0), HostPeak: -1, PluginPeak: -1}
	if h0 >= 0 {
		r.HostPeak = peakRSS(os.Getpid()) - h0
	}
	if p0 >= 0 {
		r.PluginPeak = peakRSS(pid) - p0
	}
	if err == nil && n != size {
		err = fmt.Errorf("moved %d bytes, want %d", n, size)
	}
	return r, err
}

// ContractUpload sends size bytes through Communicator.Upload.
func ContractUpload(p *StreamPlugin, size int64) (StreamResult, error) {
	return measure(p.Pid, size, func() (int64, error) {
		return p.Comm.Upload(context.Background(), "bench", NewSource(size))
	})
}

// ContractDownload fetches size bytes through Communicator.Download.
func ContractDownload(p *StreamPlugin, size int64) (StreamResult, error) {
	return measure(p.Pid, size, func() (int64, error) {
		var s Sink
		n, err := p.Comm.Download(context.Background(), strconv.FormatInt(size, 10), &s)
		if err == nil && s.N != n {
			err = fmt.Errorf("Download returned %d, the writer got %d", n, s.N)
		}
		return n, err
	})
}

// TCPUpload sends size bytes to the plugin over a plain loopback TCP
// connection and waits for its count.
func TCPUpload(p *StreamPlugin, size int64) (StreamResult, error) {
	return tcpCopy(p, true, size, func(conn *net.TCPConn) (int64, error) {
		if _, err := io.CopyBuffer(onlyWriter{conn}, NewSource(size), make([]byte, CopyBuf)); err != nil {
			return 0, err
		}
		if err := conn.CloseWrite(); err != nil {
			return 0, err
		}
		var n int64
		err := binary.Read(conn, binary.BigEndian, &n)
		return n, err
	})
}

// TCPDownload reads size bytes from the plugin over a plain loopback TCP
// connection.
func TCPDownload(p *StreamPlugin, size int64) (StreamResult, error) {
	return tcpCopy(p, false, size, func(conn *net.TCPConn) (int64, error) {
		var s Sink
		_, err := io.CopyBuffer(&s, onlyReader{conn}, make([]byte, CopyBuf))
		return s.N, err
	})
}

// tcpCopy has the plugin listen for a copy (Probe.TCP), then measures
// dialling it and copy.
func tcpCopy(p *StreamPlugin, upload bool, size int64, copy func(*net.TCPConn) (int64, error)) (StreamResult, error) {
	addr, err := p.Probe.TCP(context.Background(), upload, size)
	if err != nil {
		return StreamResult{}, err
	}
	return measure(p.Pid, size, func() (int64, error) {
		conn, err := net.Dial("tcp4", addr)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		return copy(conn.(*net.TCPConn))
	})
}

// SmallCalls makes n calls of Probe.Small (with a context when ctx), or of
// Builder.Prepare with a small config when prepare, and returns the time
// per call.
func SmallCalls(p *StreamPlugin, n int, what string) (time.Duration, error) {
	config := map[string]any{"says": 10, "name": "bench"}
	ctx := context.Background()
	t0 := time.Now()
	for i := range n {
		var err error
		switch what {
		case "prepare":
			err = p.Builder.Prepare(config)
		case "ctx":
			err = p.Probe.SmallCtx(ctx, "bench", i)
		default:
			err = p.Probe.Small("bench", i)
		}
		if err != nil {
			return 0, err
		}
	}
	return time.Since(t0) / time.Duration(n), nil
}
