package contract

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/internal/testutil"
)

// Oldie is a contract of one method without arguments.
type Oldie interface{ Pid() int }

type oldieClient struct{ c *Client }

func (o oldieClient) Pid() int { n, _ := Call1[int](o.c, "Pid"); return n }

type oldie struct{}

func (oldie) Pid() int { return 7 }

var oldies = New[Oldie](func(c *Client) Oldie { return oldieClient{c} })

// A call that offers a stream its method does not take (a caller built
// with a later version of the contract, whose method has one more stream
// argument at the end) gets its answer, and the stream is closed with the
// call rather than left open on the method's side: on a side connection
// that is a listener, then a TCP connection, per call.
func TestStreamNotTakenIsClosed(t *testing.T) {
	client, _ := plugin.TestPluginRPCConn(t, map[string]plugin.Plugin{"oldie": oldies.Plugin(oldie{})}, nil)
	defer client.Close()
	raw, err := client.Dispense("oldie")
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(oldieClient).c
	id := rpcx.NewID(c.peer.broker)
	dialed := make(chan error, 1)
	var stream net.Conn
	go func() {
		conn, err := c.peer.broker.Dial(id)
		stream = conn
		dialed <- err
	}()
	a := rpcx.CallArgs{Method: "Pid", CallID: c.ids.Next(), Conns: []rpcx.ConnID{{ID: id, Stream: true}}}
	var r rpcx.CallReply
	if err := c.rpc.Call("Plugin.Call", a, &r); err != nil {
		t.Fatalf("the call: %v", err)
	}
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	// The method's side ends the stream, maybe after its 'y' (no side
	// information here).
	type result struct {
		b   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(stream)
		got <- result{b, err}
	}()
	select {
	case res := <-got:
		if b := string(res.b); res.err != nil || (b != "" && b != "y\x00\x00\x00\x00") {
			t.Errorf("the stream gave %q, %v; want its end, maybe after 'y'", res.b, res.err)
		}
	case <-time.After(testutil.Slack(5 * time.Second)):
		t.Errorf("the stream the method did not take is still open %v after the call returned", testutil.Slack(5*time.Second))
		_ = stream.SetReadDeadline(past) // a yamux stream's Close does not wake its Read
		<-got
	}
}
