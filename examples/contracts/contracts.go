// Package contracts holds the contracts of the example host's own
// component kinds, shared by the example plugins and the example host:
// a Communicator moves files to and from a machine, and a Provisioner
// sets one up through a Communicator, as in Packer. Each is a Go
// interface made a contract with package contract, and a client of one
// line per method.
package contracts

import (
	"context"
	"errors"
	"io"

	"github.com/plugwire/plugwire/contract"
	"github.com/plugwire/plugwire/shared"
)

// The kinds under which plugins register these contracts and hosts
// dispense them: "communicator/local", "provisioner/upload".
const (
	CommunicatorKind = "communicator"
	ProvisionerKind  = "provisioner"
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

// Provisioner sets up a machine after its build: it talks to the person
// through ui and reaches the machine through comm, both served by its
// caller for the length of the call. config is the provisioner's block
// of the template.
type Provisioner interface {
	Provision(ctx context.Context, ui shared.Ui, comm Communicator, config map[string]any) error
}

// Provisioners is the Provisioner contract.
var Provisioners = contract.New[Provisioner](
	func(c *contract.Client) Provisioner { return provisionerClient{c} })

type provisionerClient struct{ c *contract.Client }

func (p provisionerClient) Provision(ctx context.Context, ui shared.Ui, comm Communicator, config map[string]any) error {
	return p.c.Call("Provision", ctx, ui, comm, config)
}
