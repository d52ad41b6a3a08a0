package rpcx

import "time"

// The arguments and replies of plugwire's contract methods as they cross
// the wire. net/rpc serves only methods whose argument and reply types are
// exported, so they live here rather than unexported in package contract.

// Empty is the argument or reply of methods that carry nothing.
type Empty struct{}

// ErrReply is the reply of every method whose only result is an error.
type ErrReply struct {
	Err *Error
}

// CancelArgs are the arguments of every contract's Cancel method: the call
// to cancel, and whether its caller's deadline passed (the method's context
// then ends with context.DeadlineExceeded rather than context.Canceled).
type CancelArgs struct {
	CallID   uint64
	Deadline bool
}

// CallArgs are the arguments of a contract method called through package
// contract: the method's name, the call's id (for Cancel) and its
// context's deadline (zero for none), the ids of the streams its callback
// and stream arguments use (taken before anything else, so that no offer
// is left waiting), and the arguments, encoded.
type CallArgs struct {
	Method   string
	CallID   uint64
	Deadline time.Time
	Conns    []ConnID
	Args     []byte
}

// ConnID is a MuxBroker stream an argument or a result uses: a callback
// object served on it, or a byte stream.
type ConnID struct {
	ID     uint32
	Stream bool // a byte stream, not a callback object
}

// CallReply is the reply of a contract method called through package
// contract: its results, encoded, and its error.
type CallReply struct {
	Results []byte
	Err     *Error
}
