package shared

import (
	"context"

	"github.com/plugwire/plugwire/contract"
)

// Build is one build a Builder runs: the host's (or a command plugin's)
// side of it, called back by the builder.
type Build interface {
	Prepare() error
	Run(ctx context.Context, ui Ui) error
}

var _ = contract.New[Build](func(c *contract.Client) Build { return buildClient{c} })

// buildClient is the Build a builder receives.
type buildClient struct{ c *contract.Client }

func (b buildClient) Prepare() error                       { return b.c.Call("Prepare") }
func (b buildClient) Run(ctx context.Context, ui Ui) error { return b.c.Call("Run", ctx, ui) }
