package shared

import (
	"context"
	"errors"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
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

// commandRPC is the Command the host holds.
type commandRPC struct {
	client *rpc.Client
	broker *plugin.MuxBroker
	ids    rpcx.IDs
}

func (c *commandRPC) Run(ctx context.Context, env Environment, args []string) int {
	code, _ := c.RunErr(ctx, env, args)
	return code
}

func (c *commandRPC) RunErr(ctx context.Context, env Environment, args []string) (int, error) {
	id := c.ids.Next()
	a := commandRunArgs{CallID: id, Deadline: rpcx.Deadline(ctx), EnvID: offerEnvironment(c.broker, env, nil), Args: args, NoArgs: args == nil}
	var r codeReply
	if err := rpcx.Call(ctx, c.client, "Plugin.Run", id, a, &r); err != nil {
		return 1, err
	}
	if err := r.Err.Err(); err != nil {
		return 1, err
	}
	return r.Code, nil
}

func (c *commandRPC) Synopsis() string {
	s, _ := c.SynopsisErr()
	return s
}

func (c *commandRPC) SynopsisErr() (string, error) {
	var r synopsisReply
	if err := c.client.Call("Plugin.Synopsis", empty{}, &r); err != nil {
		return "", err
	}
	return r.Text, r.Err.Err()
}

// commandServer serves a Command.
type commandServer struct {
	impl    Command
	broker  *plugin.MuxBroker
	cancels rpcx.Cancels
}

func (s *commandServer) Run(a commandRunArgs, r *codeReply) (err error) {
	var rel releaser
	defer rel.release()
	env, err := takeEnvironment(s.broker, a.EnvID, &rel, s.cancels.Session)
	if err != nil {
		return err
	}
	if a.Args == nil && !a.NoArgs {
		a.Args = []string{}
	}
	ctx, done := s.cancels.Start(a.CallID, a.Deadline)
	defer done()
	defer rpcx.Recover("Command.Run", &r.Err)
	r.Code = s.impl.Run(ctx, env, a.Args)
	return nil
}

func (s *commandServer) Synopsis(_ empty, r *synopsisReply) error {
	defer rpcx.Recover("Command.Synopsis", &r.Err)
	r.Text = s.impl.Synopsis()
	return nil
}

func (s *commandServer) Cancel(a cancelArgs, _ *empty) error {
	s.cancels.Cancel(a)
	return nil
}

// SetSession makes the end of the plugin's connection cancel s's calls.
func (s *commandServer) SetSession(sess *rpcx.Session) { s.cancels.Session = sess }

// CommandPlugin is the go-plugin Plugin for Command, dispensed as
// "command". A plugin sets Impl; a host leaves it nil. On the host side it
// dispenses a RemoteCommand.
type CommandPlugin struct {
	Impl Command
}

// Server returns the RPC server for Impl (plugin side).
func (p *CommandPlugin) Server(b *plugin.MuxBroker) (interface{}, error) {
	if p.Impl == nil {
		return nil, errors.New("shared.CommandPlugin: Impl is nil")
	}
	return &commandServer{impl: p.Impl, broker: b}, nil
}

// Client returns a RemoteCommand that calls the plugin over c (host side).
func (*CommandPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &commandRPC{client: c, broker: b}, nil
}
