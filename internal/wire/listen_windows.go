package wire

import (
	"errors"

	"golang.org/x/sys/windows"
)

// portTaken reports whether err, from binding a port, says that the port
// is in use: only then is the next port worth trying. Windows says
// WSAEACCES, not WSAEADDRINUSE, for a port another socket holds with
// SO_EXCLUSIVEADDRUSE or that lies in an excluded port range (Hyper-V and
// WinNAT reserve such ranges): taken too, for this plugin's purposes.
func portTaken(err error) bool {
	return errors.Is(err, windows.WSAEADDRINUSE) || errors.Is(err, windows.WSAEACCES)
}
