package main

import (
	"context"
	"fmt"
	"os"

	"github.com/plugwire/plugwire/examples/contracts"
	"github.com/plugwire/plugwire/shared"
	"github.com/plugwire/plugwire/shared/config"
)

// Upload is a provisioner that uploads the file "source" to
// "destination" through the Communicator its caller serves, as Packer's
// file provisioner does.
type Upload struct{}

type uploadConfig struct {
	Type        string `json:"type"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// Provision uploads the file.
func (Upload) Provision(ctx context.Context, ui shared.Ui, comm contracts.Communicator, settings map[string]any) error {
	var cfg uploadConfig
	if err := config.Decode(settings, &cfg); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if cfg.Source == "" || cfg.Destination == "" {
		return fmt.Errorf("upload: \"source\" and \"destination\" are required")
	}
	if comm == nil {
		return fmt.Errorf("upload: no communicator")
	}
	f, err := os.Open(cfg.Source)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	ui.Say("upload: uploading %s to %s", cfg.Source, cfg.Destination)
	n, err := comm.Upload(ctx, cfg.Destination, f)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	ui.Say("upload: uploaded %d bytes to %s", n, cfg.Destination)
	return nil
}
