//go:build !unix

package plugwire

// endOwnGroup does nothing on Windows: a plugin's children are in the job
// its host made, which the host ends (see host.Client.Kill); what they
// started outlives a host that died.
func endOwnGroup() {}
