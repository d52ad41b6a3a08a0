//go:build !unix

package host

import (
	"errors"
	"os"
	"os/exec"
)

// ownGroup does nothing on Windows: there is no process group to kill at
// once (a job object would be), so only the binary itself is killed.
func ownGroup(*exec.Cmd) {}

// killGroup kills p.
func killGroup(p *os.Process) error {
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
