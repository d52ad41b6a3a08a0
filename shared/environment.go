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
	sess   *rpcx.Session // of the plugin that holds it
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
	return &builderRPC{client: cl, broker: e.broker, sess: e.sess}, nil
}

func (e *environmentRPC) Cli(ctx context.Context, args []string) (int, error) {
	id := e.ids.Next()
	var r cliReply
	a := cliArgs{CallID: id, Deadline: rpcx.Deadline(ctx), Args: args, NoArgs: args == nil}
	if err := rpcx.Call(ctx, e.client, "Plugin.Cli", id, a, &r); err != nil {
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

func (s *environmentServer) Builder(name string, r *idReply) error {
	defer rpcx.Recover("Environment.Builder", &r.Err)
	b, err := s.impl.Builder(name)
	r.Err = rpcx.EncodeError(err)
	if err == nil && b != nil {
		bs := &builderServer{impl: b, broker: s.broker}
		bs.cancels.Session = s.cancels.Session
		r.ID = rpcx.Offer(s.broker, bs, bs.cancels.EndAll)
	}
	return nil
}

func (s *environmentServer) Cli(a cliArgs, r *cliReply) error {
	if a.Args == nil && !a.NoArgs {
		a.Args = []string{}
	}
	ctx, done := s.cancels.Start(a.CallID, a.Deadline)
	defer done()
	defer rpcx.Recover("Environment.Cli", &r.Err)
	code, err := s.impl.Cli(ctx, a.Args)
	r.Code, r.Err = code, rpcx.EncodeError(err)
	return nil
}

func (s *environmentServer) Ui(_ empty, r *idReply) error {
	defer rpcx.Recover("Environment.Ui", &r.Err)
	r.ID = offerUi(s.broker, s.impl.Ui())
	return nil
}

func (s *environmentServer) Cancel(a cancelArgs, _ *empty) error {
	s.cancels.Cancel(a)
	return nil
}

// offerEnvironment serves env to the other side and returns its id; sess
// is the plugin's session when a plugin offers it.
func offerEnvironment(b *plugin.MuxBroker, env Environment, sess *rpcx.Session) uint32 {
	if env == nil {
		return 0
	}
	s := &environmentServer{impl: env, broker: b}
	s.cancels.Session = sess
	return rpcx.Offer(b, s, s.cancels.EndAll)
}

// takeEnvironment takes the Environment offered as id; nil for id 0. The
// Builders it hands out offer their callbacks in sess.
func takeEnvironment(b *plugin.MuxBroker, id uint32, r *releaser, sess *rpcx.Session) (Environment, error) {
	cl, err := rpcx.Take(b, id)
	if err != nil || cl == nil {
		return nil, err
	}
	r.add(cl)
	return &environmentRPC{client: cl, broker: b, rel: r, sess: sess}, nil
}
