package host

import "golang.org/x/sys/unix"

// fionread is the ioctl that says how many bytes a pipe holds.
const fionread = unix.TIOCINQ
