//go:build (!unix && !windows) || aix

package host

// waiting is false where the socket cannot be asked without blocking (AIX
// has no MSG_DONTWAIT): a plugin's exit closes the handshake's
// connection at once.
func waiting(uintptr) bool { return false }
