package wire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ProtocolVersion is the version of plugwire's wire protocol this build
// speaks. Hosts and plugins must speak the same one.
const ProtocolVersion uint32 = 1

// SecretSize is the size of the per-launch secret in bytes (256 bits).
const SecretSize = 32

// magic opens the preamble in both directions.
var magic = [8]byte{'p', 'l', 'u', 'g', 'w', 'i', 'r', 'e'}

// Reply status bytes.
const (
	statusOK              = 0
	statusVersionMismatch = 1
)

// nonceSize is the size of the host's challenge.
const nonceSize = 32

// macSize is the size of an HMAC-SHA256.
const macSize = sha256.Size

// helloSize is what the host sends first: magic, version, a fresh nonce and
// its proof of the secret, HMAC-SHA256(secret, "plugwire host\x00" nonce).
const helloSize = len(magic) + 4 + nonceSize + macSize

// replySize is what the plugin answers: magic, version, status and its own
// proof, HMAC-SHA256(secret, "plugwire plugin\x00" nonce).
const replySize = len(magic) + 4 + 1 + macSize

// HandshakeTimeout bounds how long a connection may take to prove the
// secret before the plugin closes it.
const HandshakeTimeout = 5 * time.Second

// ErrVersionMismatch is wrapped by the error either side gets when the
// other speaks another ProtocolVersion.
var ErrVersionMismatch = errors.New("plugwire protocol version mismatch")

// ErrHandshake is wrapped by the error a host gets when whatever answered
// on the plugin's port did not complete the preamble: it did not prove this
// launch's secret or answered something that is not plugwire's preamble.
// A connection that merely ended during the preamble is not this error:
// the host then looks at whether the plugin process ended.
var ErrHandshake = errors.New("plugin handshake failed")

// Secret is a per-launch secret. Its String method never reveals it.
type Secret [SecretSize]byte

// NewSecret returns a fresh random secret from crypto/rand.
func NewSecret() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("reading random secret: %w", err)
	}
	return s, nil
}

// Env returns the secret encoded for EnvSecret.
func (s Secret) Env() string { return hex.EncodeToString(s[:]) }

// String hides the secret, so that it cannot end up in a log by accident.
func (s Secret) String() string { return "[secret]" }

// ParseSecret decodes the value of EnvSecret. The error never quotes the
// value, which may be a real secret with a typo.
func ParseSecret(v string) (Secret, error) {
	var s Secret
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != SecretSize {
		return s, fmt.Errorf("%s is not %d hex digits (it has %d characters)", EnvSecret, 2*SecretSize, len(v))
	}
	copy(s[:], b)
	return s, nil
}

// proof is HMAC-SHA256(s, role "\x00" nonce): it shows knowledge of the
// secret without sending it.
func (s Secret) proof(role string, nonce []byte) []byte {
	m := hmac.New(sha256.New, s[:])
	m.Write([]byte("plugwire " + role + "\x00"))
	m.Write(nonce)
	return m.Sum(nil)
}

// Hello returns the host's first message for version, with a fresh nonce.
// Prove sends it; tests use it to speak as a host of another version.
func Hello(version uint32, s Secret) ([]byte, error) {
	hello := make([]byte, 0, helloSize)
	hello = append(hello, magic[:]...)
	hello = binary.BigEndian.AppendUint32(hello, version)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("reading random nonce: %w", err)
	}
	hello = append(hello, nonce...)
	return append(hello, s.proof("host", nonce)...), nil
}

// Reply returns the plugin's answer to hello for version and status
// (0 ok, 1 version mismatch). AcceptHost sends it; tests use it to speak as
// a plugin of another version.
func Reply(version uint32, status byte, s Secret, hello []byte) []byte {
	reply := make([]byte, 0, replySize)
	reply = append(reply, magic[:]...)
	reply = binary.BigEndian.AppendUint32(reply, version)
	reply = append(reply, status)
	return append(reply, s.proof("plugin", hello[len(magic)+4:len(magic)+4+nonceSize])...)
}

// Prove is the host's side of the preamble: it proves the secret on conn
// without sending it, and checks that the plugin proves it too, so that
// neither side talks to a process that merely took the port. It fails with
// an error wrapping ErrVersionMismatch, naming both versions, when they
// differ. Prove is SendHello followed by the Pending's Check.
func Prove(conn net.Conn, s Secret, deadline time.Time) error {
	p, err := SendHello(conn, s, deadline)
	if err != nil {
		return err
	}
	return p.Check()
}

// Pending is a host's preamble whose hello is sent and whose answer is not
// read yet. The host may go on writing (see SendHello) but must not read
// anything from the connection before Check has succeeded.
type Pending struct {
	conn  net.Conn
	s     Secret
	nonce []byte

	once sync.Once
	err  error
	done chan struct{}
}

// SendHello sends the host's half of the preamble on conn (magic, version,
// a fresh nonce and the host's proof of s) and returns without waiting for
// the plugin's answer, which Check reads. The write must finish, and the
// answer arrive, by deadline: the read deadline stays set until Check has
// read the answer.
//
// What the host writes after SendHello reaches the process on the port
// before that process has proven the secret, so a host writes nothing a
// caller gave it until Check has succeeded.
func SendHello(conn net.Conn, s Secret, deadline time.Time) (*Pending, error) {
	hello, err := Hello(ProtocolVersion, s)
	if err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("setting handshake deadline: %w", err)
	}
	if _, err := conn.Write(hello); err != nil {
		return nil, fmt.Errorf("sending handshake to plugin at %s: %w", conn.RemoteAddr(), err)
	}
	if err := conn.SetWriteDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clearing handshake write deadline: %w", err)
	}
	nonce := hello[len(magic)+4 : len(magic)+4+nonceSize]
	return &Pending{conn: conn, s: s, nonce: nonce, done: make(chan struct{})}, nil
}

// Check reads the plugin's answer to the hello, exactly its bytes and no
// more, and checks it: the process on the port must prove the secret and
// speak this ProtocolVersion. It clears the read deadline on success. Only
// the first call reads; later calls return its result.
func (p *Pending) Check() error {
	p.once.Do(func() {
		p.err = p.check()
		close(p.done)
	})
	return p.err
}

// Done is closed once Check has read and checked the answer.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Err returns Check's result once Done is closed, and nil before.
func (p *Pending) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

func (p *Pending) check() error {
	conn := p.conn
	var reply [replySize]byte
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		// Not ErrHandshake: the host decides whether the plugin process
		// ended, which is the usual reason.
		return fmt.Errorf("the process at %s closed the connection during the handshake (it rejected this host's secret, or it is not a plugwire plugin): %w",
			conn.RemoteAddr(), err)
	}
	if [8]byte(reply[:8]) != magic {
		return fmt.Errorf("%w: the process at %s answered with %q: not a plugwire plugin", ErrHandshake, conn.RemoteAddr(), reply[:8])
	}
	if !hmac.Equal(reply[13:], p.s.proof("plugin", p.nonce)) {
		return fmt.Errorf("%w: the process at %s did not prove this launch's secret: it is not the plugin this host started", ErrHandshake, conn.RemoteAddr())
	}
	theirs := binary.BigEndian.Uint32(reply[8:12])
	if theirs != ProtocolVersion || reply[12] == statusVersionMismatch {
		return fmt.Errorf("%w: plugin speaks plugwire protocol %d, this host speaks %d; build both against the same plugwire release",
			ErrVersionMismatch, theirs, ProtocolVersion)
	}
	if reply[12] != statusOK {
		return fmt.Errorf("%w: the plugin at %s answered with unknown status %d", ErrHandshake, conn.RemoteAddr(), reply[12])
	}
	return conn.SetReadDeadline(time.Time{})
}

// check is the plugin's side of the preamble on one connection. It returns
// ok=false, with no error, for a connection that did not prove the secret:
// that connection is closed and does not count. A proven host that speaks
// another version gets an answer naming ours, and check returns an error.
func check(conn net.Conn, s Secret) (ok bool, err error) {
	if err := conn.SetDeadline(time.Now().Add(HandshakeTimeout)); err != nil {
		return false, nil
	}
	var hello [helloSize]byte
	if _, err := io.ReadFull(conn, hello[:]); err != nil {
		return false, nil
	}
	nonce := hello[len(magic)+4 : len(magic)+4+nonceSize]
	if [8]byte(hello[:8]) != magic || !hmac.Equal(hello[len(magic)+4+nonceSize:], s.proof("host", nonce)) {
		return false, nil
	}
	theirs := binary.BigEndian.Uint32(hello[len(magic):])
	if theirs != ProtocolVersion {
		_, _ = conn.Write(Reply(ProtocolVersion, statusVersionMismatch, s, hello[:]))
		return false, fmt.Errorf("%w: host speaks plugwire protocol %d, this plugin speaks %d; build both against the same plugwire release",
			ErrVersionMismatch, theirs, ProtocolVersion)
	}
	if _, err := conn.Write(Reply(ProtocolVersion, statusOK, s, hello[:])); err != nil {
		return false, nil
	}
	return true, conn.SetDeadline(time.Time{})
}

// AcceptHost accepts connections on ln until one proves s and returns
// that connection: the plugin's one host connection. ln is closed, and so
// are connections still in their preamble, as AcceptHost returns (just
// after, so that serving starts at once). Connections that fail the
// preamble are closed and do not count, so a local process racing to the
// port cannot take the host's place. AcceptHost gives up when no host has
// proven itself by deadline, or when stop is closed; it then returns once
// ln and every connection are closed.
func AcceptHost(ln net.Listener, s Secret, deadline time.Time, stop <-chan struct{}) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	var (
		mu       sync.Mutex
		pending  = map[net.Conn]struct{}{}
		res      result
		finished = make(chan struct{})
		wg       sync.WaitGroup
	)
	// finish settles the result once. It lets AcceptHost return before it
	// closes the listener and the other connections, which it then does.
	finish := func(r result) {
		mu.Lock()
		if isClosed(finished) {
			mu.Unlock()
			if r.conn != nil {
				_ = r.conn.Close()
			}
			return
		}
		res = r
		close(finished)
		others := make([]net.Conn, 0, len(pending))
		for c := range pending {
			if c != r.conn {
				others = append(others, c)
			}
		}
		mu.Unlock()
		_ = ln.Close()
		for _, c := range others {
			_ = c.Close()
		}
	}
	timer := time.AfterFunc(time.Until(deadline), func() {
		finish(result{err: fmt.Errorf("no host connected to %s and proved its secret within the start deadline", ln.Addr())})
	})
	defer timer.Stop()
	go func() {
		select {
		case <-stop:
			finish(result{err: errors.New("host went away before connecting")})
		case <-finished:
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				finish(result{err: fmt.Errorf("accepting the host's connection on %s: %w", ln.Addr(), err)})
				return
			}
			mu.Lock()
			if isClosed(finished) {
				mu.Unlock()
				_ = conn.Close()
				return
			}
			pending[conn] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				ok, err := check(conn, s)
				mu.Lock()
				delete(pending, conn)
				mu.Unlock()
				switch {
				case ok:
					finish(result{conn: conn})
				case err != nil:
					_ = conn.Close()
					finish(result{err: err})
				default:
					_ = conn.Close()
				}
			}()
		}
	}()
	<-finished
	if res.err != nil {
		// Leave nothing behind: the listener is closed and every
		// goroutine is done when a plugin gives up.
		wg.Wait()
		return nil, res.err
	}
	// The host's bytes are waiting; the listener and the connections
	// that did not prove anything are closed in the background.
	return res.conn, nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
