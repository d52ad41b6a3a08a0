package shared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
)

// Builder builds things: the contract of a "builder" plugin.
//
// The config given to Prepare crosses to the plugin as its JSON encoding
// and arrives as what encoding/json decodes into an interface{}: a config
// read from a JSON template crosses unchanged (nested objects and arrays,
// empty ones, null, numbers, bool, any string). A config json.Marshal
// refuses is an error naming its type, and the plugin is not called.
//
// A number arrives as a float64 when a float64 holds it as written (20,
// 0.5, 1e300, -0), and otherwise as a json.Number holding its text, so
// that nothing changes a value silently: an integer beyond ±2^53 such as
// 9007199254740993 or the int64 and uint64 maximums, more digits than a
// float64 keeps, or a magnitude beyond float64's range. DecodeConfig takes
// both and puts either into an integer field exactly; a plugin reading the
// raw config handles json.Number where it takes large numbers.
type Builder interface {
	Prepare(config interface{}) error
	Run(ctx context.Context, build Build, ui Ui) error
}

// ErrConfigNotJSON is wrapped by the error Builder.Prepare returns, on the
// host, for a config that cannot be encoded as JSON.
var ErrConfigNotJSON = errors.New("config cannot be encoded as JSON")

// builderRPC is the Builder the host (or a command plugin) holds.
type builderRPC struct {
	client *rpc.Client
	broker *plugin.MuxBroker
	sess   *rpcx.Session // of the plugin that holds it; nil on the host
	ids    rpcx.IDs
}

func (b *builderRPC) Prepare(config interface{}) error {
	raw, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("Builder.Prepare: %w: config of type %T: %v", ErrConfigNotJSON, config, err)
	}
	var r errReply
	if err := b.client.Call("Plugin.Prepare", prepareArgs{Config: raw}, &r); err != nil {
		return err
	}
	return r.Err.Err()
}

func (b *builderRPC) Run(ctx context.Context, build Build, ui Ui) error {
	id := b.ids.Next()
	args := runArgs{CallID: id, Deadline: rpcx.Deadline(ctx), BuildID: offerBuild(b.broker, build, b.sess), UiID: offerUi(b.broker, ui)}
	var r errReply
	if err := rpcx.Call(ctx, b.client, "Plugin.Run", id, args, &r); err != nil {
		return err
	}
	return r.Err.Err()
}

// builderServer serves a Builder.
type builderServer struct {
	impl    Builder
	broker  *plugin.MuxBroker
	cancels rpcx.Cancels
}

func (s *builderServer) Prepare(a prepareArgs, r *errReply) (err error) {
	config, err := decodeJSON(a.Config)
	if err != nil {
		return fmt.Errorf("Builder.Prepare: decoding config: %v", err)
	}
	defer rpcx.Recover("Builder.Prepare", &r.Err)
	r.Err = rpcx.EncodeError(s.impl.Prepare(config))
	return nil
}

func (s *builderServer) Run(a runArgs, r *errReply) (err error) {
	var rel releaser
	defer rel.release()
	build, err := takeBuild(s.broker, a.BuildID, &rel)
	if err != nil {
		return err
	}
	ui, err := takeUi(s.broker, a.UiID, &rel)
	if err != nil {
		return err
	}
	ctx, done := s.cancels.Start(a.CallID, a.Deadline)
	defer done()
	defer rpcx.Recover("Builder.Run", &r.Err)
	r.Err = rpcx.EncodeError(s.impl.Run(ctx, build, ui))
	return nil
}

func (s *builderServer) Cancel(a cancelArgs, _ *empty) error {
	s.cancels.Cancel(a)
	return nil
}

// SetSession makes the end of the plugin's connection cancel s's calls.
func (s *builderServer) SetSession(sess *rpcx.Session) { s.cancels.Session = sess }

// BuilderPlugin is the go-plugin Plugin for Builder, dispensed as
// "builder". A plugin sets Impl; a host leaves it nil.
type BuilderPlugin struct {
	Impl Builder
}

// Server returns the RPC server for Impl (plugin side).
func (p *BuilderPlugin) Server(b *plugin.MuxBroker) (interface{}, error) {
	if p.Impl == nil {
		return nil, errors.New("shared.BuilderPlugin: Impl is nil")
	}
	return &builderServer{impl: p.Impl, broker: b}, nil
}

// Client returns a Builder that calls the plugin over c (host side).
func (*BuilderPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &builderRPC{client: c, broker: b}, nil
}
