package shared

import (
	"context"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
)

// Build is one build a Builder runs: the host's (or a command plugin's)
// side of it, called back by the builder.
type Build interface {
	Prepare() error
	Run(ctx context.Context, ui Ui) error
}

// buildRPC is the Build a builder receives.
type buildRPC struct {
	client *rpc.Client
	broker *plugin.MuxBroker
	ids    rpcx.IDs
}

func (b *buildRPC) Prepare() error {
	var r errReply
	if err := b.client.Call("Plugin.Prepare", empty{}, &r); err != nil {
		return err
	}
	return r.Err.Err()
}

func (b *buildRPC) Run(ctx context.Context, ui Ui) error {
	id := b.ids.Next()
	var r errReply
	if err := rpcx.Call(ctx, b.client, "Plugin.Run", id, runArgs{CallID: id, Deadline: rpcx.Deadline(ctx), UiID: offerUi(b.broker, ui)}, &r); err != nil {
		return err
	}
	return r.Err.Err()
}

// buildServer serves a Build.
type buildServer struct {
	impl    Build
	broker  *plugin.MuxBroker
	cancels rpcx.Cancels
}

func (s *buildServer) Prepare(_ empty, r *errReply) (err error) {
	defer rpcx.Recover("Build.Prepare", &r.Err)
	r.Err = rpcx.EncodeError(s.impl.Prepare())
	return nil
}

func (s *buildServer) Run(a runArgs, r *errReply) (err error) {
	var rel releaser
	defer rel.release()
	ui, err := takeUi(s.broker, a.UiID, &rel)
	if err != nil {
		return err
	}
	ctx, done := s.cancels.Start(a.CallID, a.Deadline)
	defer done()
	defer rpcx.Recover("Build.Run", &r.Err)
	r.Err = rpcx.EncodeError(s.impl.Run(ctx, ui))
	return nil
}

func (s *buildServer) Cancel(a cancelArgs, _ *empty) error {
	s.cancels.Cancel(a)
	return nil
}

// offerBuild serves build to the other side and returns its id (0 for
// nil); sess is the plugin's session when a plugin offers it.
func offerBuild(b *plugin.MuxBroker, build Build, sess *rpcx.Session) uint32 {
	if build == nil {
		return 0
	}
	s := &buildServer{impl: build, broker: b}
	s.cancels.Session = sess
	return rpcx.Offer(b, s, s.cancels.EndAll)
}

// takeBuild takes the Build the other side offered as id; nil for id 0.
func takeBuild(b *plugin.MuxBroker, id uint32, r *releaser) (Build, error) {
	cl, err := rpcx.Take(b, id)
	if err != nil || cl == nil {
		return nil, err
	}
	r.add(cl)
	return &buildRPC{client: cl, broker: b}, nil
}
