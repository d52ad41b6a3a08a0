package plugwire_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/sidestream"
)

// memComm is a Communicator of files in memory.
type memComm struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (m *memComm) Upload(_ context.Context, dst string, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return int64(len(b)), err
	}
	m.mu.Lock()
	m.files[dst] = b
	m.mu.Unlock()
	return int64(len(b)), nil
}

func (m *memComm) Download(_ context.Context, src string, w io.Writer) (int64, error) {
	m.mu.Lock()
	b, ok := m.files[src]
	m.mu.Unlock()
	if !ok {
		return 0, contracts.ErrNotFound
	}
	n, err := w.Write(b)
	return int64(n), err
}

// A plugin in debug mode moves the streams of each host it serves, one
// after another, to side connections proven with its secret, which the
// host has from PLUGWIRE_REATTACH.
func TestDebugModeStreams(t *testing.T) {
	p := startDebugPluginOf(t, "comm")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16+3) // 1 MiB + 48
	for i := range 2 {
		c := host.NewClient(&host.Config{
			Reattach: &p.entry,
			Plugins:  map[string]plugin.Plugin{"communicator": contracts.Communicators.Plugin(nil)},
			Logger:   hclog.New(&hclog.LoggerOptions{Name: "e2e", Level: hclog.Warn, Output: testWriter{t}}),
		})
		comm, err := host.Dispense[contracts.Communicator](c, "communicator/mem")
		if err != nil {
			t.Fatalf("host %d: Dispense: %v", i, err)
		}
		dialed := sidestream.Dialed.Load()
		if n, err := comm.Upload(context.Background(), "f", bytes.NewReader(data)); err != nil || n != int64(len(data)) {
			t.Fatalf("host %d: Upload = %d, %v; want %d", i, n, err, len(data))
		}
		var got bytes.Buffer
		if n, err := comm.Download(context.Background(), "f", &got); err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("host %d: Download = %d, %v; got %d bytes, equal %v", i, n, err, got.Len(), bytes.Equal(got.Bytes(), data))
		}
		if d := sidestream.Dialed.Load() - dialed; d != 2 {
			t.Errorf("host %d: dialed %d side connections, want 2", i, d)
		}
		c.Kill()
	}
}
