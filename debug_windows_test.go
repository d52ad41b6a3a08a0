package plugwire_test

import "errors"

// stopSelf is a Unix test helper; nothing stops a process this way on
// Windows.
func stopSelf() error { return errors.ErrUnsupported }
