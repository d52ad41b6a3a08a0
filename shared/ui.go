package shared

import (
	"fmt"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/internal/rpcx"
)

// Ui is how a plugin talks to the person running the host.
type Ui interface {
	Say(format string, a ...interface{})
	Error(format string, a ...interface{})
}

// uiRPC is the Ui the other side of a call receives. It formats on its own
// side and sends the finished text, so any argument type works.
type uiRPC struct{ client *rpc.Client }

// Say formats the message here and delivers the text.
func (u *uiRPC) Say(format string, a ...interface{}) {
	_ = u.client.Call("Plugin.Say", fmt.Sprintf(format, a...), new(empty))
}

// Error formats the message here and delivers the text.
func (u *uiRPC) Error(format string, a ...interface{}) {
	_ = u.client.Call("Plugin.Error", fmt.Sprintf(format, a...), new(empty))
}

// uiServer serves a Ui; the text arrives finished, so a % in it survives.
type uiServer struct{ impl Ui }

func (s *uiServer) Say(text string, _ *empty) (err error) {
	defer rpcx.Recover("Ui.Say", &err)
	s.impl.Say("%s", text)
	return nil
}

func (s *uiServer) Error(text string, _ *empty) (err error) {
	defer rpcx.Recover("Ui.Error", &err)
	s.impl.Error("%s", text)
	return nil
}

// discardUi is what Environment.Ui returns when the host cannot be reached.
type discardUi struct{}

func (discardUi) Say(string, ...interface{})   {}
func (discardUi) Error(string, ...interface{}) {}

// offerUi serves ui to the other side and returns its id (0 for nil).
func offerUi(b *plugin.MuxBroker, ui Ui) uint32 {
	if ui == nil {
		return 0
	}
	return rpcx.Offer(b, &uiServer{impl: ui}, nil)
}

// takeUi takes the Ui the other side offered as id; nil for id 0.
func takeUi(b *plugin.MuxBroker, id uint32, r *releaser) (Ui, error) {
	cl, err := rpcx.Take(b, id)
	if err != nil || cl == nil {
		return nil, err
	}
	r.add(cl)
	return &uiRPC{client: cl}, nil
}
