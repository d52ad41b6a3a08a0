package shared

import (
	"context"
	"sync"

	"github.com/plugwire/plugwire/contract"
)

// Environment is what a Command gets from its host: the builders the host
// can start, the host's own CLI, and its Ui.
type Environment interface {
	Builder(name string) (Builder, error)
	Cli(ctx context.Context, args []string) (int, error)
	Ui() Ui
}

var _ = contract.New[Environment](func(c *contract.Client) Environment { return &environmentClient{c: c} })

// environmentClient is the Environment a command plugin receives. The
// objects it hands out live as long as the Command.Run call that received
// it.
type environmentClient struct {
	c *contract.Client

	uiOnce sync.Once
	ui     Ui
}

func (e *environmentClient) Builder(name string) (Builder, error) {
	return contract.Call1[Builder](e.c, "Builder", name)
}

// Cli returns 1 with the error when the call itself failed.
func (e *environmentClient) Cli(ctx context.Context, args []string) (int, error) {
	code, err := contract.Call1[int](e.c, "Cli", ctx, args)
	if err != nil && !contract.IsRemote(err) {
		return 1, err
	}
	return code, err
}

// Ui returns the host's Ui, or one that discards everything when the host
// cannot be reached.
func (e *environmentClient) Ui() Ui {
	e.uiOnce.Do(func() {
		e.ui = discardUi{}
		if ui, err := contract.Call1[Ui](e.c, "Ui"); err == nil && ui != nil {
			e.ui = ui
		}
	})
	return e.ui
}
