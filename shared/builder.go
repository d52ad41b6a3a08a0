package shared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/internal/exactjson"
)

// Builder builds things: the contract of a "builder" plugin.
//
// The config given to Prepare as raw crosses to the plugin as its JSON
// encoding and arrives as what encoding/json decodes into an any: a
// config read from a JSON template crosses unchanged (nested objects and
// arrays, empty ones, null, numbers, bool, any string). A config
// json.Marshal refuses is an error naming its type, and the plugin is not
// called. A builder decodes raw with config.Decode(raw, &c).
//
// A number arrives as a float64 when a float64 holds it as written (20,
// 0.5, 1e300, -0), and otherwise as a json.Number holding its text, so
// that nothing changes a value silently: an integer beyond ±2^53 such as
// 9007199254740993 or the int64 and uint64 maximums, more digits than a
// float64 keeps, or a magnitude beyond float64's range. config.Decode takes
// both and puts either into an integer field exactly; a plugin reading the
// raw config handles json.Number where it takes large numbers.
type Builder interface {
	Prepare(raw any) error
	Run(ctx context.Context, build Build, ui Ui) error
}

// ErrConfigNotJSON is wrapped by the error Builder.Prepare returns, on the
// host, for a config that cannot be encoded as JSON.
var ErrConfigNotJSON = errors.New("config cannot be encoded as JSON")

// builderContract is Builder's contract; its config crosses as JSON and is
// decoded with exact numbers (exactjson.Decode).
var builderContract = contract.New[Builder](func(c *contract.Client) Builder { return builderClient{c} },
	contract.DecodeJSON(decodeConfigJSON))

// decodeConfigJSON decodes a Builder's config as exactjson.Decode does.
func decodeConfigJSON(data []byte, v any) error {
	p, ok := v.(*any)
	if !ok {
		return json.Unmarshal(data, v)
	}
	config, err := exactjson.Decode(data)
	*p = config
	return err
}

// builderClient is the Builder the host (or a command plugin) holds.
type builderClient struct{ c *contract.Client }

func (b builderClient) Prepare(raw any) error {
	err := b.c.Call("Prepare", raw)
	if errors.Is(err, contract.ErrEncoding) {
		_, jerr := json.Marshal(raw)
		return fmt.Errorf("Builder.Prepare: %w: config of type %T: %v", ErrConfigNotJSON, raw, jerr)
	}
	return err
}

func (b builderClient) Run(ctx context.Context, build Build, ui Ui) error {
	return b.c.Call("Run", ctx, build, ui)
}

// BuilderPlugin is the go-plugin Plugin for Builder, dispensed as
// "builder". A plugin sets Impl; a host leaves it nil.
type BuilderPlugin struct {
	Impl Builder
}

// Server returns the RPC server for Impl (plugin side).
func (p *BuilderPlugin) Server(b *plugin.MuxBroker) (any, error) {
	if p.Impl == nil {
		return nil, errors.New("shared.BuilderPlugin: Impl is nil")
	}
	return builderContract.Plugin(p.Impl).Server(b)
}

// Client returns a Builder that calls the plugin over c (host side).
func (*BuilderPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return builderContract.Plugin(nil).Client(b, c)
}
