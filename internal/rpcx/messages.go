package rpcx

import "time"

// The arguments and replies of plugwire's contract methods as they cross
// the wire. net/rpc serves only methods whose argument and reply types are
// exported, so they live here rather than unexported in package shared.

// Empty is the argument or reply of methods that carry nothing.
type Empty struct{}

// ErrReply is the reply of every method whose only result is an error.
type ErrReply struct {
	Err *Error
}

// RunArgs are the arguments of Build.Run and Builder.Run: the call's id
// for cancellation, its context's deadline (zero for none) and the callback
// objects' stream ids (0 for nil).
type RunArgs struct {
	CallID   uint64
	Deadline time.Time
	BuildID  uint32
	UiID     uint32
}

// CancelArgs are the arguments of every contract's Cancel method: the call
// to cancel, and whether its caller's deadline passed (the method's context
// then ends with context.DeadlineExceeded rather than context.Canceled).
type CancelArgs struct {
	CallID   uint64
	Deadline bool
}

// PrepareArgs carry a Builder's config as JSON.
type PrepareArgs struct {
	Config []byte
}

// CommandRunArgs are the arguments of Command.Run.
type CommandRunArgs struct {
	CallID   uint64
	Deadline time.Time
	EnvID    uint32
	Args     []string
	NoArgs   bool // Args was nil, not empty (gob cannot tell them apart)
}

// CodeReply is the reply of Command.Run; Err is set only when the method
// panicked.
type CodeReply struct {
	Code int
	Err  *Error
}

// SynopsisReply is the reply of Command.Synopsis; Err is set only when the
// method panicked.
type SynopsisReply struct {
	Text string
	Err  *Error
}

// IDReply is the reply of methods that return a callback object.
type IDReply struct {
	ID  uint32
	Err *Error
}

// CliArgs are the arguments of Environment.Cli.
type CliArgs struct {
	CallID   uint64
	Deadline time.Time
	Args     []string
	NoArgs   bool
}

// CliReply is the reply of Environment.Cli.
type CliReply struct {
	Code int
	Err  *Error
}

// CallArgs are the arguments of a contract method called through package
// contract: the method's name, the call's id and deadline as in RunArgs,
// the ids of the streams its callback and stream arguments use (taken
// before anything else, so that no offer is left waiting), and the
// arguments, encoded.
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
