//go:build unix && !linux

package host

// fionread is the ioctl that says how many bytes a pipe holds: FIONREAD,
// _IOR('f', 127, int) on macOS and the BSDs.
const fionread = 0x4004667f
