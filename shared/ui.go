package shared

import (
	"errors"
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
// side and sends the finished text, so any argument type works. A message
// that cannot be delivered (the call it was given to has returned, the host
// is gone, the host's Ui panicked) is logged at Warn on this process's
// stderr, which a plugwire host forwards when it is still there: it never
// blocks and is never dropped silently.
type uiRPC struct{ client *rpc.Client }

// Say formats the message here and delivers the text.
func (u *uiRPC) Say(format string, a ...any) { u.send("Say", fmt.Sprintf(format, a...)) }

// Error formats the message here and delivers the text.
func (u *uiRPC) Error(format string, a ...any) { u.send("Error", fmt.Sprintf(format, a...)) }

func (u *uiRPC) send(method, text string) {
	var r errReply
	err := u.client.Call("Plugin."+method, text, &r)
	if err == nil {
		err = r.Err.Err()
	}
	switch {
	case err == nil:
	case errors.Is(err, rpc.ErrShutdown) || rpcx.IsRemote(err):
		// The call never left (its client was closed: the method that got
		// this Ui has returned), or the other side's Ui failed.
		rpcx.Logger().Warn("Ui."+method+" not delivered", "text", text, "error", err.Error())
	default:
		// The connection ended while the call was under way: the text may
		// have been shown before the answer was lost (as at Kill).
		rpcx.Logger().Warn("Ui."+method+" got no answer; the text may not have been shown", "text", text, "error", err.Error())
	}
}

// uiServer serves a Ui; the text arrives finished, so a % in it survives.
type uiServer struct{ impl Ui }

func (s *uiServer) Say(text string, r *errReply) error {
	defer rpcx.Recover("Ui.Say", &r.Err)
	s.impl.Say("%s", text)
	return nil
}

func (s *uiServer) Error(text string, r *errReply) error {
	defer rpcx.Recover("Ui.Error", &r.Err)
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
