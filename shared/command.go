package shared

import (
	"context"
	"errors"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/internal/direct"
)

// Command is a CLI subcommand: the contract of a "command" plugin.
type Command interface {
	Run(ctx context.Context, env Environment, args []string) int
	Synopsis() string
}

// RemoteCommand is the Command a CommandPlugin dispenses on the host side.
// Run and Synopsis have no error result, so when the call itself fails (the
// plugin died, the connection broke) Run returns 1 and Synopsis "". RunErr
// and SynopsisErr return that error as well.
type RemoteCommand interface {
	Command
	RunErr(ctx context.Context, env Environment, args []string) (int, error)
	SynopsisErr() (string, error)
}

var commandContract = contract.New[Command](func(c *contract.Client) Command { return commandClient{c} })

// Synopsis is the call a host makes most; its server calls it directly.
func init() {
	direct.Register(func(c Command) map[string]any { return map[string]any{"Synopsis": c.Synopsis} })
}

// commandClient is the Command the host holds.
type commandClient struct{ c *contract.Client }

func (c commandClient) Run(ctx context.Context, env Environment, args []string) int {
	code, _ := c.RunErr(ctx, env, args)
	return code
}

func (c commandClient) RunErr(ctx context.Context, env Environment, args []string) (int, error) {
	code, err := contract.Call1[int](c.c, "Run", ctx, env, args)
	if err != nil {
		return 1, err
	}
	return code, nil
}

func (c commandClient) Synopsis() string {
	s, _ := c.SynopsisErr()
	return s
}

func (c commandClient) SynopsisErr() (string, error) {
	return contract.Call1[string](c.c, "Synopsis")
}

// CommandPlugin is the go-plugin Plugin for Command, dispensed as
// "command". A plugin sets Impl; a host leaves it nil. On the host side it
// dispenses a RemoteCommand.
type CommandPlugin struct {
	Impl Command
}

// Server returns the RPC server for Impl (plugin side).
func (p *CommandPlugin) Server(b *plugin.MuxBroker) (any, error) {
	if p.Impl == nil {
		return nil, errors.New("shared.CommandPlugin: Impl is nil")
	}
	return commandContract.Plugin(p.Impl).Server(b)
}

// Client returns a RemoteCommand that calls the plugin over c (host side).
func (*CommandPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return commandContract.Plugin(nil).Client(b, c)
}
