package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/plugwire/plugwire/internal/rpcconn"
	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/shared"
)

// exitWait bounds how long a failed call waits for the process to exit
// before the client kills it: a plugin whose connection broke is useless.
const exitWait = time.Second

// Dispense returns the plugin object registered under name in
// Config.Plugins, starting the plugin on first use (under
// Config.StartTimeout) when Start was not called. A plugin set's
// component is dispensed as "KIND/NAME" ("builder/ebs") with the plugin
// type Config.Plugins has for KIND, or as "KIND" when its name is empty. For plugwire's own
// contracts it returns a shared.Builder or a shared.RemoteCommand whose
// calls report a dead plugin as errors wrapping ErrProcessExited. Each
// object has its own stream on the plugin's connection, open until Kill:
// dispense once and reuse the object rather than dispensing per call.
// Dispense[T] returns the object as the type the host uses it as; this
// is go-plugin's untyped shape.
func (c *Client) Dispense(name string) (any, error) {
	if c.plugins == nil {
		return nil, errZeroClient
	}
	p, err := c.plugins.lookup(name)
	if err != nil {
		return nil, err
	}
	rpcClient, err := c.start(context.Background(), rpcconn.Eager)
	if err != nil {
		return nil, err
	}
	c.plugins.setHook(c.callErr)
	raw, err := c.plugins.dispense(rpcClient, name)
	if err != nil {
		if serr := c.answerErr(); serr != nil {
			return nil, serr
		}
		if unknownType(err, name) {
			return nil, c.noComponent(name)
		}
		return nil, c.callErr(fmt.Errorf("host: dispensing %q from %s: %w", name, c.name, err))
	}
	switch p.(type) {
	case *shared.BuilderPlugin:
		if b, ok := raw.(shared.Builder); ok {
			return &builder{c: c, b: b}, nil
		}
	case *shared.CommandPlugin:
		if cmd, ok := raw.(shared.RemoteCommand); ok {
			return &command{c: c, cmd: cmd}, nil
		}
	}
	return raw, nil
}

// Dispense dispenses name from c (as Client.Dispense) and returns it as
// a T: a shared.Builder, a shared.RemoteCommand, or a host's own contract
// (see package contract), as c's Config.Plugins makes it. What c dispenses
// under name that is not a T is an error wrapping ErrWrongType, naming the
// component and both types (and the Config.Plugins entry that made it,
// when the host's own entry did), not a panic:
//
//	b, err := host.Dispense[shared.Builder](client, "builder/ebs")
func Dispense[T any](c *Client, name string) (T, error) {
	var zero T
	if c == nil {
		return zero, errZeroClient
	}
	raw, err := c.Dispense(name)
	if err != nil {
		return zero, err
	}
	return as[T](c, raw, name)
}

// as returns raw, dispensed from c as name, as a T. When raw is not a T
// because of the host's own Config.Plugins, the error says which entry
// made it: that, not the T, is the usual mistake. plugwire's own
// contracts under their own kind are the defaults' doing, so the mistake
// is in the name or the T.
func as[T any](c *Client, raw any, name string) (T, error) {
	t, ok := raw.(T)
	if ok {
		return t, nil
	}
	key := c.plugins.givenKey(name)
	hint := fmt.Sprintf(" (Config.Plugins[%q] makes what %q dispenses)", key, name)
	switch raw.(type) {
	case *builder:
		if key == shared.BuilderPluginName {
			hint = ""
		}
	case *command:
		if key == shared.CommandPluginName {
			hint = ""
		}
	}
	want := reflect.TypeFor[T]().String()
	return t, fmt.Errorf("host: dispensing %q from %s: %w: it is a %s, not %s %s%s", name, c.name, ErrWrongType, typeName(raw), article(want), want, hint)
}

// typeName names the type of a dispensed value for an error: plugwire's
// own contracts by their interface, anything else by its type.
func typeName(v any) string {
	switch v.(type) {
	case *builder:
		return "shared.Builder"
	case *command:
		return "shared.RemoteCommand"
	}
	return fmt.Sprintf("%T", v)
}

// Builder dispenses the plugin's "builder": the builder of a binary that
// calls builderplugin.Serve (or a Set's builder registered under the
// empty name). A plugin set's builder NAME is dispensed with
// Dispense[shared.Builder](c, "builder/NAME"); Builder on a set that has
// none under the empty name returns an error wrapping ErrNoComponent that
// says so (and that "BINARY describe" lists what the binary serves).
func (c *Client) Builder() (shared.Builder, error) {
	return Dispense[shared.Builder](c, shared.BuilderPluginName)
}

// Command dispenses the plugin's "command": the command of a binary that
// calls commandplugin.Serve. A plugin set's command NAME is dispensed with
// Dispense[shared.RemoteCommand](c, "command/NAME"), as Builder says for
// builders. Its RunErr and SynopsisErr return the errors of the calls
// themselves (a dead plugin: ErrProcessExited), which Run and Synopsis
// can only log.
func (c *Client) Command() (shared.RemoteCommand, error) {
	return Dispense[shared.RemoteCommand](c, shared.CommandPluginName)
}

// callErr turns the error of a failed call into an error wrapping
// ErrProcessExited when the call failed because the plugin or its
// connection is gone. Errors the plugin returned pass unchanged, whatever
// they wrap or say.
func (c *Client) callErr(err error) error {
	if err == nil || !isTransport(err) {
		return err
	}
	c.mu.Lock()
	killed := c.killed
	c.mu.Unlock()
	if killed {
		<-c.exited // Kill ends the process within its grace period
	} else if !c.waitExit(exitWait) {
		c.logger.Warn("connection to plugin lost while the process lives; killing it", "error", err)
		c.forceKillFor("its connection was lost while it ran")
		<-c.exited
	}
	if cerr := c.connErr(); cerr != nil {
		return fmt.Errorf("%w (the call failed with: %v; the connection with: %v)", c.exitErr, err, cerr)
	}
	return fmt.Errorf("%w (the call failed with: %v)", c.exitErr, err)
}

// connErr returns the error the connection itself failed with (a reset,
// a broken pipe), if any.
func (c *Client) connErr() error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return nil
	}
	return conn.Err()
}

// isTransport reports whether err is a failure of the connection itself
// (closed, reset, cut short) rather than an error returned by the other
// side or one made locally. It decides by type, as net/rpc tells a
// ServerError from ErrShutdown: an error the other side returned is a
// value whatever it wraps (a plugin's error wrapping
// context.DeadlineExceeded is a net.Error) or says ("EOF").
func isTransport(err error) bool {
	if rpcx.IsRemote(err) {
		return false
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	for _, t := range transportErrors {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// transportErrors are what net/rpc, MuxBroker and yamux return when the
// connection under a call is gone.
var transportErrors = []error{
	rpc.ErrShutdown, io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
	yamux.ErrSessionShutdown, yamux.ErrStreamClosed, yamux.ErrConnectionReset,
	yamux.ErrStreamsExhausted, yamux.ErrRemoteGoAway, yamux.ErrConnectionWriteTimeout,
	yamux.ErrKeepAliveTimeout, yamux.ErrInvalidVersion, yamux.ErrInvalidMsgType,
	yamux.ErrDuplicateStream, yamux.ErrRecvWindowExceeded, yamux.ErrUnexpectedFlag,
}

// builder is a dispensed shared.Builder that reports a dead plugin.
type builder struct {
	c *Client
	b shared.Builder
}

func (b *builder) Prepare(config any) error {
	return b.c.callErr(b.b.Prepare(config))
}

func (b *builder) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	return b.c.callErr(b.b.Run(ctx, build, ui))
}

// command is a dispensed shared.RemoteCommand that reports a dead plugin.
type command struct {
	c   *Client
	cmd shared.RemoteCommand
}

// Run returns 1, and logs why, when the call itself failed.
func (c *command) Run(ctx context.Context, env shared.Environment, args []string) int {
	code, err := c.RunErr(ctx, env, args)
	if err != nil {
		c.c.logger.Error("Command.Run failed", "error", err)
	}
	return code
}

func (c *command) RunErr(ctx context.Context, env shared.Environment, args []string) (int, error) {
	code, err := c.cmd.RunErr(ctx, env, args)
	return code, c.c.callErr(err)
}

// Synopsis returns "", and logs why, when the call itself failed.
func (c *command) Synopsis() string {
	s, err := c.SynopsisErr()
	if err != nil {
		c.c.logger.Error("Command.Synopsis failed", "error", err)
	}
	return s
}

func (c *command) SynopsisErr() (string, error) {
	s, err := c.cmd.SynopsisErr()
	return s, c.c.callErr(err)
}

// article is the indefinite article before a type's name in an error.
func article(name string) string {
	if name != "" && strings.ContainsRune("aeiouAEIOU", rune(name[0])) {
		return "an"
	}
	return "a"
}
