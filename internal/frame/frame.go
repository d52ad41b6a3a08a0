// Package frame names the fields of a yamux frame header (yamux v0.1.2,
// its spec.md), once for the packages that read the frames crossing a
// plugwire connection: muxconn and rpcconn.
//
// A header is version(1) type(1) flags(2) stream(4) length(4), big-endian.
// A data frame's length is the size of the body that follows it; the other
// types have no body.
package frame

import "encoding/binary"

// HeaderSize is the size of a header; Version is its first byte.
const (
	HeaderSize = 12
	Version    = 0
)

// Frame types: a header's second byte.
const (
	TypeData         = 0
	TypeWindowUpdate = 1
	TypePing         = 2
	TypeGoAway       = 3
)

// Flags: a header's bytes 2 and 3.
const (
	FlagSYN = 1
	FlagACK = 2
	FlagFIN = 4
	FlagRST = 8
)

// AppendHeader appends to b the header of a frame of type typ with flags,
// on stream, with length.
func AppendHeader(b []byte, typ byte, flags uint16, stream, length uint32) []byte {
	b = append(b, Version, typ)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return binary.BigEndian.AppendUint32(b, length)
}

// Header returns a new header (see AppendHeader).
func Header(typ byte, flags uint16, stream, length uint32) []byte {
	return AppendHeader(make([]byte, 0, HeaderSize), typ, flags, stream, length)
}
