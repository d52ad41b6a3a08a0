package host_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/internal/muxconn"
	"github.com/plugwire/plugwire/internal/wire"
	"github.com/plugwire/plugwire/shared"
)

// goAwayBuilder's Prepare sends a yamux GoAway with the protocol-error code
// on its connection: the host's yamux stops reading it at once, without
// ever reading the end of the connection.
type goAwayBuilder struct {
	testBuilder
	conn *muxconn.Conn
}

func (b *goAwayBuilder) Prepare(any) error {
	_, _ = b.conn.Write([]byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	return nil
}

// goAwayHelper serves a goAwayBuilder as plugwire.Serve would, until its
// lifeline ends.
func goAwayHelper() int {
	minPort, maxPort, err := wire.PortRange(os.LookupEnv)
	if err != nil {
		return 1
	}
	secret, err := wire.ParseSecret(os.Getenv(wire.EnvSecret))
	if err != nil {
		return 1
	}
	ln, err := wire.Listen(minPort, maxPort)
	if err != nil {
		return 1
	}
	fmt.Println(ln.Addr())
	conn, err := wire.AcceptHost(ln, secret, time.Now().Add(30*time.Second), nil)
	if err != nil {
		return 1
	}
	mc := muxconn.Wrap(conn)
	srv := &plugin.RPCServer{
		Plugins: map[string]plugin.Plugin{shared.BuilderPluginName: &shared.BuilderPlugin{Impl: &goAwayBuilder{conn: mc}}},
		Stdout:  strings.NewReader(""),
		Stderr:  strings.NewReader(""),
		DoneCh:  make(chan struct{}),
	}
	go srv.ServeConn(mc)
	lifeline, err := wire.OpenLifeline(os.Getenv(wire.EnvLifeline))
	if err != nil {
		return 1
	}
	_, _ = lifeline.Read(make([]byte, 1)) // until the host is gone
	return 0
}

// Kill stays within grace + 1 s when the host's yamux stopped reading on
// a protocol error and so never reads the end of the connection.
func TestKillAfterProtocolError(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	p := newPlug(t, &host.Config{KillGrace: grace}, "goaway")
	b, err := p.Builder()
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Prepare(nil) // fails or not, depending on which frame yamux reads first
	within(t, grace+time.Second, "Kill after a protocol error", p.Kill)
}
