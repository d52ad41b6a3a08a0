package wire

import (
	"fmt"
	"time"
)

// EnvKillGrace carries the host's Config.KillGrace (a time.Duration
// string): how long the plugin gives the methods still running when the
// host is done or gone to return, once their contexts are cancelled.
const EnvKillGrace = "PLUGWIRE_KILL_GRACE"

// DefaultKillGrace is the grace period of a plugin whose host did not pass
// one, and the default of host.Config.KillGrace.
const DefaultKillGrace = 2 * time.Second

// KillGrace reads EnvKillGrace through lookup; DefaultKillGrace when unset.
func KillGrace(lookup func(string) (string, bool)) (time.Duration, error) {
	v, ok := lookup(EnvKillGrace)
	if !ok {
		return DefaultKillGrace, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%s is not a duration of zero or more", EnvKillGrace, Quote(v))
	}
	return d, nil
}

// DefaultConnectTimeout is how long a plugin whose host did not set
// EnvConnectTimeout waits for its host to connect, and the default of
// host.Config.StartTimeout. A plugin whose host is gone exits sooner,
// through its lifeline.
const DefaultConnectTimeout = time.Minute

// ConnectTimeout reads EnvConnectTimeout through lookup;
// DefaultConnectTimeout when unset.
func ConnectTimeout(lookup func(string) (string, bool)) (time.Duration, error) {
	v, ok := lookup(EnvConnectTimeout)
	if !ok {
		return DefaultConnectTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%s is not a positive duration", EnvConnectTimeout, Quote(v))
	}
	return d, nil
}
