package bench

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/plugwire/plugwire/internal/muxconn"
)

// Experimental connection wrappers (Linux only). Measured on the issue 6
// machine, "muxconn_pollread" was no faster than "muxconn" per call or per
// callback (within noise) and plain "pollread" was much slower: the
// goroutines a read wakes wait for another thread to steal them while the
// reader sits in ppoll. Kept so that the result can be reproduced:
//
//	go -C internal/bench run ./cmd/benchtable -scenarios call,callback -sides floor+muxconn_pollread,floor+muxconn,stock
func init() {
	Wrappers["pollread"] = func(c net.Conn) net.Conn { return wrapPollRead(c) }
	Wrappers["muxconn_pollread"] = func(c net.Conn) net.Conn { return muxconn.Wrap(wrapPollRead(c)) }
}

// pollReadConn is a TCP connection whose Read, when no data is waiting,
// yields once and then blocks its thread in ppoll(2) instead of parking the goroutine in the
// netpoller. While the reading thread sits in that system call its P
// counts as busy, so the goroutines its data wakes run without the
// scheduler waking (futex) an idle thread for every hand-off; and the
// arrival of data wakes the reading thread directly.
type pollReadConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func wrapPollRead(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &pollReadConn{TCPConn: tc, rc: rc}
}

type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

const pollIn = 0x1

func (c *pollReadConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var (
		n   int
		err error
	)
	yielded := false
	rerr := c.rc.Read(func(fd uintptr) bool {
		for {
			n, err = syscall.Read(int(fd), p)
			switch err {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
			default:
				return true
			}
			if !yielded {
				// Let the goroutines the last read woke run first.
				yielded = true
				runtime.Gosched()
				continue
			}
			pfd := pollFd{fd: int32(fd), events: pollIn}
			_, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, 0, 0, 0, 0)
			if e != 0 && e != syscall.EINTR {
				err = e
				return true
			}
		}
	})
	switch {
	case rerr != nil:
		return 0, rerr
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Close wakes a Read blocked in ppoll (shutting the read side down) and
// closes the connection.
func (c *pollReadConn) Close() error {
	_ = c.CloseRead()
	return c.TCPConn.Close()
}
