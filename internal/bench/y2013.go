package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/rpc"

	"github.com/plugwire/plugwire/internal/rpcx"
	"github.com/plugwire/plugwire/shared"
)

// The 2013 side is the original Packer RPC design, written out just far
// enough for Builder.Prepare and Builder.Run with a Ui: net/rpc straight on
// a TCP connection, and for every callback object a new TCP listener in the
// port range, whose one connection the plugin dials and calls.

// Run2013Args are the arguments of the 2013 Builder.Run: where the Ui
// callback object listens.
type Run2013Args struct {
	UiAddr string
}

// builder2013Server serves a Builder the 2013 way (plugin side).
type builder2013Server struct {
	impl shared.Builder
}

// Prepare decodes the JSON config and prepares the builder.
func (s *builder2013Server) Prepare(config []byte, r *rpcx.ErrReply) error {
	var c interface{}
	if err := json.Unmarshal(config, &c); err != nil {
		return err
	}
	r.Err = rpcx.EncodeError(s.impl.Prepare(c))
	return nil
}

// Run dials the Ui the host serves for this call and runs the builder.
func (s *builder2013Server) Run(a Run2013Args, r *rpcx.ErrReply) error {
	var ui shared.Ui
	if a.UiAddr != "" {
		conn, err := net.Dial("tcp", a.UiAddr)
		if err != nil {
			return err
		}
		c := rpc.NewClient(conn)
		defer c.Close()
		ui = &ui2013{c: c}
	}
	r.Err = rpcx.EncodeError(s.impl.Run(context.Background(), nil, ui))
	return nil
}

// ui2013 is the Ui the 2013 plugin calls.
type ui2013 struct{ c *rpc.Client }

func (u *ui2013) Say(format string, a ...interface{}) {
	_ = u.c.Call("Ui.Say", fmt.Sprintf(format, a...), new(rpcx.Empty))
}

func (u *ui2013) Error(format string, a ...interface{}) {
	_ = u.c.Call("Ui.Error", fmt.Sprintf(format, a...), new(rpcx.Empty))
}

// ui2013Server serves the host's Ui on a callback connection.
type ui2013Server struct{ impl shared.Ui }

// Say delivers one line.
func (s *ui2013Server) Say(text string, _ *rpcx.Empty) error {
	s.impl.Say("%s", text)
	return nil
}

// Error delivers one error line.
func (s *ui2013Server) Error(text string, _ *rpcx.Empty) error {
	s.impl.Error("%s", text)
	return nil
}

// builder2013 is the host's Builder on the 2013 side.
type builder2013 struct {
	c                *rpc.Client
	minPort, maxPort int
}

func (b *builder2013) Prepare(config interface{}) error {
	raw, err := json.Marshal(config)
	if err != nil {
		return err
	}
	var r rpcx.ErrReply
	if err := b.c.Call("Builder.Prepare", raw, &r); err != nil {
		return err
	}
	return r.Err.Err()
}

func (b *builder2013) Run(_ context.Context, _ shared.Build, ui shared.Ui) error {
	var a Run2013Args
	if ui != nil {
		ln, err := naiveListen(b.minPort, b.maxPort)
		if err != nil {
			return err
		}
		defer ln.Close()
		a.UiAddr = ln.Addr().String()
		go func() {
			conn, err := ln.Accept()
			_ = ln.Close()
			if err != nil {
				return
			}
			srv := rpc.NewServer()
			_ = srv.RegisterName("Ui", &ui2013Server{impl: ui})
			srv.ServeConn(conn)
		}()
	}
	var r rpcx.ErrReply
	if err := b.c.Call("Builder.Run", a, &r); err != nil {
		return err
	}
	return r.Err.Err()
}

func start2013(side Side, o Options) (*Plugin, error) {
	pr, err := startProc(side, KindBuilder, o)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", pr.addr)
	if err != nil {
		pr.kill()
		return nil, fmt.Errorf("bench: %s: %w", side, err)
	}
	c := rpc.NewClient(conn)
	return &Plugin{
		Side:    side,
		Builder: &builder2013{c: c, minPort: o.MinPort, maxPort: o.MaxPort},
		Exited:  pr.exited,
		kill: func() {
			_ = c.Close()
			pr.wait()
		},
	}, nil
}

// serve2013 serves the Builder on the one accepted connection until the
// host closes it.
func serve2013() error {
	conn, err := acceptOne()
	if err != nil {
		return err
	}
	srv := rpc.NewServer()
	if err := srv.RegisterName("Builder", &builder2013Server{impl: &Builder{}}); err != nil {
		return err
	}
	srv.ServeConn(conn)
	return nil
}
