// Package contracts holds the contracts of the example host's own
// component kinds, shared by the example plugins and the example host:
// a Communicator moves files to and from a machine, as in Packer. Each is
// a Go interface made a contract with package contract, and a client of
// one line per method.
package contracts

import (
	"context"
	"errors"
	"io"

	"github.com/plugwire/plugwire/contract"
)

// CommunicatorKind is the kind under which plugins register
// Communicators and hosts dispense them ("communicator/local").
const (
	CommunicatorKind = "communicator"
)

// ErrNotFound is the error, matched with errors.Is on either side, of a
// Download whose source does not exist.
var ErrNotFound = errors.New("no such file")

// Communicator moves files to and from the machine it stands for.
//
// Upload writes what r yields to dst, and Download writes src to w; each
// returns the number of bytes moved. A failed or cancelled Upload leaves
// dst as it was, and no partial file beside it.
type Communicator interface {
	Upload(ctx context.Context, dst string, r io.Reader) (int64, error)
	Download(ctx context.Context, src string, w io.Writer) (int64, error)
}

// Communicators is the Communicator contract.
var Communicators = contract.New[Communicator](
	func(c *contract.Client) Communicator { return communicatorClient{c} },
	contract.Errors(ErrNotFound))

type communicatorClient struct{ c *contract.Client }

func (c communicatorClient) Upload(ctx context.Context, dst string, r io.Reader) (int64, error) {
	return contract.Call1[int64](c.c, "Upload", ctx, dst, r)
}

func (c communicatorClient) Download(ctx context.Context, src string, w io.Writer) (int64, error) {
	return contract.Call1[int64](c.c, "Download", ctx, src, w)
}
