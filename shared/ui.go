package shared

import (
	"errors"
	"fmt"
	"net/rpc"
	"strings"

	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/internal/direct"
)

// Ui is how a plugin talks to the person running the host.
type Ui interface {
	Say(format string, a ...any)
	Error(format string, a ...any)
}

var _ = contract.New[Ui](func(c *contract.Client) Ui { return uiClient{c} })

// A build says many lines; the host's Ui server calls Say and Error
// directly.
func init() {
	direct.Register(func(u Ui) map[string]any { return map[string]any{"Say": u.Say, "Error": u.Error} })
}

// uiClient is the Ui the other side of a call receives. It formats on its
// own side and sends the finished text, which the other side shows with
// the format "%s", so any argument type works and a % in the text
// survives. A message that cannot be delivered (the call it was given to
// has returned, the host is gone, the host's Ui panicked) is logged at
// Warn on this process's stderr, which a plugwire host forwards when it is
// still there: it never blocks and is never dropped silently.
type uiClient struct{ c *contract.Client }

// Say formats the message here and delivers the text.
func (u uiClient) Say(format string, a ...any) { u.send("Say", fmt.Sprintf(format, a...)) }

// Error formats the message here and delivers the text.
func (u uiClient) Error(format string, a ...any) { u.send("Error", fmt.Sprintf(format, a...)) }

// send delivers text. Bytes that are not UTF-8 (a remote command's output
// in another encoding) are shown as U+FFFD: the text is for display, and
// the line must not be lost for them.
func (u uiClient) send(method, text string) {
	text = strings.ToValidUTF8(text, "\uFFFD")
	err := u.c.Call(method, "%s", []any{text})
	switch {
	case err == nil:
	case errors.Is(err, contract.ErrReleased) || errors.Is(err, rpc.ErrShutdown) || errors.Is(err, contract.ErrEncoding) || contract.IsRemote(err):
		// The call never left (the method that got this Ui has
		// returned), or the other side's Ui failed.
		contract.Logger().Warn("Ui."+method+" not delivered", "text", text, "error", err.Error())
	default:
		// The connection ended while the call was under way: the text may
		// have been shown before the answer was lost (as at Kill).
		contract.Logger().Warn("Ui."+method+" got no answer; the text may not have been shown", "text", text, "error", err.Error())
	}
}

// discardUi is what Environment.Ui returns when the host cannot be reached.
type discardUi struct{}

func (discardUi) Say(string, ...any)   {}
func (discardUi) Error(string, ...any) {}
