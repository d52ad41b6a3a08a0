package main

import (
	"context"
	"fmt"

	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/host"
	"github.com/plugwire/plugwire/shared"
)

// provisioned is a builder whose template block may list "provisioners":
// the host runs them, in order, once the build has succeeded, each
// talking through the build's Ui and reaching the machine through the
// communicator demo-local, as Packer runs provisioners in a build.
type provisioned struct {
	shared.Builder
	c            *core
	provisioners []map[string]any
}

// Prepare takes the provisioners out of the block and prepares the
// builder with the rest.
func (b *provisioned) Prepare(config any) error {
	block, ok := config.(map[string]any)
	if !ok || block["provisioners"] == nil {
		return b.Builder.Prepare(config)
	}
	list, ok := block["provisioners"].([]any)
	if !ok {
		return fmt.Errorf("\"provisioners\" is a %T, want a list of objects", block["provisioners"])
	}
	b.provisioners = nil
	for i, p := range list {
		m, ok := p.(map[string]any)
		if typ, _ := m["type"].(string); !ok || typ == "" {
			return fmt.Errorf("provisioners[%d] is not an object with a \"type\" string", i)
		}
		b.provisioners = append(b.provisioners, m)
	}
	rest := make(map[string]any, len(block))
	for k, v := range block {
		if k != "provisioners" {
			rest[k] = v
		}
	}
	return b.Builder.Prepare(rest)
}

// Run runs the build, then its provisioners.
func (b *provisioned) Run(ctx context.Context, build shared.Build, ui shared.Ui) error {
	if err := b.Builder.Run(ctx, build, ui); err != nil {
		return err
	}
	for _, p := range b.provisioners {
		if err := b.c.provision(ctx, ui, p); err != nil {
			return err
		}
	}
	return nil
}

// provision runs the provisioner a block names, in a process of its own,
// with a Communicator the host serves back to it: its calls reach the
// communicator's plugin through the host.
func (c *core) provision(ctx context.Context, ui shared.Ui, block map[string]any) error {
	typ := block["type"].(string)
	comp, err := c.cat.Lookup(contracts.ProvisionerKind, typ)
	if err != nil {
		return err
	}
	cl, err := c.clientOf(comp, contractPlugins)
	if err != nil {
		return err
	}
	defer cl.Kill()
	prov, err := host.Dispense[contracts.Provisioner](cl, comp.Dispense)
	if err != nil {
		return err
	}
	comm, ccl, err := c.communicator(ctx, localCommunicator)
	if err != nil {
		return err
	}
	defer ccl.Kill()
	if err := prov.Provision(ctx, ui, comm, block); err != nil {
		return fmt.Errorf("provisioner %q: %w", typ, err)
	}
	return nil
}
