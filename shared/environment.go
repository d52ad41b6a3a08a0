package shared

import (
	"context"
	"net/rpc"
	"sync"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
)

// Environment is what a Command gets from its host: the builders the host
// can start, the host's own CLI, and its Ui.
type Environment interface {
	Builder(name string) (Builder, error)
	Cli(ctx context.Context, args []string) (int, error)
	Ui() Ui
}

// environmentRPC is the Environment a command plugin receives. The objects
// it hands out live as long as the Command.Run call that received it.
type environmentRPC struct {
	client *rpc.Client
	broker *plugin.MuxBroker
	rel    *releaser
	ids    rpcx.IDs

	uiOnce sync.Once
	ui     Ui
}

func (e *environmentRPC) Builder(name string) (Builder, error) {
	var r idReply
	if err := e.client.Call("Plugin.Builder", name, &r); err != nil {
		return nil, err
	}
	if err := r.Err.Err(); err != nil {
		return nil, err
	}
	cl, err := rpcx.Take(e.broker, r.ID)
	if err != nil || cl == nil {
		return nil, err
	}
	e.rel.add(cl)
	return &builderRPC{client: cl, broker: e.broker}, nil
}

func (e *environmentRPC) Cli(ctx context.Context, args []string) (int, error) {
	id := e.ids.Next()
	var r cliReply
	if err := rpcx.Call(ctx, e.client, "Plugin.Cli", id, cliArgs{CallID: id, Args: args, NoArgs: args == nil}, &r); err != nil {
		return 1, err
	}
	return r.Code, r.Err.Err()
}

func (e *environmentRPC) Ui() Ui {
	e.uiOnce.Do(func() {
		e.ui = discardUi{}
		var r idReply
		if err := e.client.Call("Plugin.Ui", empty{}, &r); err != nil || r.ID == 0 {
			return
		}
		if ui, err := takeUi(e.broker, r.ID, e.rel); err == nil {
			e.ui = ui
		}
	})
	return e.ui
}

// environmentServer serves an Environment.
type environmentServer struct {
	impl    Environment
	broker  *plugin.MuxBroker
	cancels rpcx.Cancels
}

func (s *environmentServer) Builder(name string, r *idReply) (err error) {
	defer rpcx.Recover("Environment.Builder", &err)
	b, err := s.impl.Builder(name)
	r.Err = rpcx.EncodeError(err)
	if err == nil && b != nil {
		bs := &builderServer{impl: b, broker: s.broker}
		r.ID = rpcx.Offer(s.broker, bs, bs.cancels.EndAll)
	}
	return nil
}

func (s *environmentServer) Cli(a cliArgs, r *cliReply) (err error) {
	if a.Args == nil && !a.NoArgs {
		a.Args = []string{}
	}
	ctx, done := s.cancels.Start(a.CallID)
	defer done()
	defer rpcx.Recover("Environment.Cli", &err)
	code, err := s.impl.Cli(ctx, a.Args)
	r.Code, r.Err = code, rpcx.EncodeError(err)
	return nil
}

func (s *environmentServer) Ui(_ empty, r *idReply) (err error) {
	defer rpcx.Recover("Environment.Ui", &err)
	r.ID = offerUi(s.broker, s.impl.Ui())
	return nil
}

func (s *environmentServer) Cancel(id uint64, _ *empty) error {
	s.cancels.Cancel(id)
	return nil
}

// offerEnvironment serves env to the other side and returns its id.
func offerEnvironment(b *plugin.MuxBroker, env Environment) uint32 {
	if env == nil {
		return 0
	}
	s := &environmentServer{impl: env, broker: b}
	return rpcx.Offer(b, s, s.cancels.EndAll)
}

// takeEnvironment takes the Environment offered as id; nil for id 0.
func takeEnvironment(b *plugin.MuxBroker, id uint32, r *releaser) (Environment, error) {
	cl, err := rpcx.Take(b, id)
	if err != nil || cl == nil {
		return nil, err
	}
	r.add(cl)
	return &environmentRPC{client: cl, broker: b, rel: r}, nil
}
