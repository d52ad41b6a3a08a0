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
// speaks. Hosts and plugins must speak the same one. Version 2 had the
// plugin greet first, so that each side's proof covers a nonce of the
// other's; version 3 keeps that preamble and carries every call, Builder's
// and Command's included, in package contract's encoding. Version 4 moves
// the bytes of a contract's stream argument to a TCP connection of its own
// (package sidestream): the plugin's side sends 'u' and an address, or 'y',
// first on the stream's broker stream.
const ProtocolVersion uint32 = 4

// SecretSize is the size of the per-launch secret in bytes (256 bits).
const SecretSize = 32

// magic opens the preamble in both directions.
var magic = [8]byte{'p', 'l', 'u', 'g', 'w', 'i', 'r', 'e'}

// The preamble, on the one TCP connection, before go-plugin's protocol:
//
//	plugin → host, on accepting:  greeting = magic, version, plugin nonce
//	host → plugin, on connecting: intro    = magic, version
//	host → plugin, after greeting: proof   = host nonce, MAC("plugwire host", greeting intro host-nonce)
//	plugin → host:                 answer  = status, MAC("plugwire plugin", greeting intro proof status)
//
// MAC is HMAC-SHA256 keyed with the launch secret, which never crosses
// the connection. Each MAC covers every byte sent before it in both
// directions, both versions and both nonces: nothing can be altered, and
// neither proof can be replayed on another connection. Every version of
// the protocol starts with magic and version in both directions, sent
// without waiting for the other side, so that a version mismatch is seen
// by both sides whatever comes after.
const (
	nonceSize = 32
	macSize   = sha256.Size
	// GreetingSize, IntroSize, ProofSize and AnswerSize are the sizes of
	// the four messages.
	GreetingSize = len(magic) + 4 + nonceSize
	IntroSize    = len(magic) + 4
	ProofSize    = nonceSize + macSize
	AnswerSize   = 1 + macSize
)

// Answer status bytes.
const (
	StatusOK = 0
)

// HandshakeTimeout bounds how long an accepted connection may take to
// prove the secret before the plugin closes it. A host proves it within a
// round trip of connecting, but a host on a starved machine can be kept
// off the CPU for seconds between its connect and its hello; silent
// connections cannot use the time to keep a host out (at most MaxUnproven
// are held, the oldest closed first). It matches the host's own wait for
// the plugin's answer.
const HandshakeTimeout = 10 * time.Second

// ErrVersionMismatch is wrapped by the error a host gets when the plugin
// speaks another ProtocolVersion.
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
	return parseSecret(EnvSecret, v)
}

// parseSecret decodes v, a secret called what in the error, which never
// quotes v.
func parseSecret(what, v string) (Secret, error) {
	var s Secret
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != SecretSize {
		return s, fmt.Errorf("%s is not %d hex digits (it has %d characters)", what, 2*SecretSize, len(v))
	}
	copy(s[:], b)
	return s, nil
}

// mac is HMAC-SHA256(s, "plugwire " role "\x00" parts...).
func (s Secret) mac(role string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, s[:])
	m.Write([]byte("plugwire " + role + "\x00"))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// header returns magic and version.
func header(version uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), magic[:]...), version)
}

// Greeting returns a plugin's first message for version, with a fresh
// nonce. AcceptHost sends it; tests use it to speak as another plugin.
func Greeting(version uint32) ([]byte, error) {
	g := make([]byte, 0, GreetingSize)
	g = append(g, header(version)...)
	g = g[:GreetingSize]
	if _, err := rand.Read(g[IntroSize:]); err != nil {
		return nil, fmt.Errorf("reading random nonce: %w", err)
	}
	return g, nil
}

// Intro returns the host's first message for version.
func Intro(version uint32) []byte { return header(version) }

// HostProof returns the host's proof for the transcript so far (the
// plugin's greeting and the host's intro): a fresh nonce and its MAC.
func HostProof(s Secret, greeting, intro []byte) ([]byte, error) {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("reading random nonce: %w", err)
	}
	return append(nonce, s.mac("host", greeting, intro, nonce)...), nil
}

// Answer returns the plugin's answer with status for the transcript
// greeting, intro, proof.
func Answer(s Secret, status byte, greeting, intro, proof []byte) []byte {
	return append([]byte{status}, s.mac("plugin", greeting, intro, proof, []byte{status})...)
}

// version reads the version from a greeting or intro, and whether it
// starts with plugwire's magic.
func version(msg []byte) (uint32, bool) {
	if len(msg) < IntroSize || [8]byte(msg[:8]) != magic {
		return 0, false
	}
	return binary.BigEndian.Uint32(msg[8:12]), true
}

// Prove is the host's side of the preamble: it proves the secret on conn
// without sending it, and checks that the plugin proves it too, so that
// neither side talks to a process that merely took the port. Prove is
// SendHello followed by the Pending's Check.
func Prove(conn net.Conn, s Secret, deadline time.Time) error {
	p, err := SendHello(conn, s, deadline)
	if err != nil {
		return err
	}
	return p.Check()
}

// Pending is a host's preamble whose proof is sent and whose answer is not
// read yet. The host may go on writing (see SendHello) but must not read
// anything from the connection before Check has succeeded.
type Pending struct {
	conn       net.Conn
	s          Secret
	transcript [][]byte // greeting, intro, proof

	once sync.Once
	err  error
	done chan struct{}
}

// SendHello runs the host's half of the preamble on conn: it sends its
// intro, reads the plugin's greeting, and sends its proof of s; it returns
// without waiting for the plugin's answer, which Check reads. Everything
// must happen, and the answer arrive, by deadline: the read deadline stays
// set until Check has read the answer. It fails with an error wrapping
// ErrVersionMismatch, naming both versions, when the plugin greets with
// another version, and ErrHandshake when what answered is not plugwire.
//
// What the host writes after SendHello reaches the process on the port
// before that process has proven the secret, so a host writes nothing a
// caller gave it until Check has succeeded.
func SendHello(conn net.Conn, s Secret, deadline time.Time) (*Pending, error) {
	return sendHello(conn, s, deadline, false)
}

// SendHelloProbing is SendHello for a plugin the host started: when no
// greeting has come a moment after connecting, it also asks in protocol
// 1's words whether the plugin speaks that (see probeAfter), so that such
// a plugin fails the start at once with ErrVersionMismatch. A plugin in
// debug mode, which serves one host after another, is not asked: the
// probe would count as a host.
func SendHelloProbing(conn net.Conn, s Secret, deadline time.Time) (*Pending, error) {
	return sendHello(conn, s, deadline, true)
}

func sendHello(conn net.Conn, s Secret, deadline time.Time, probing bool) (*Pending, error) {
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("setting handshake deadline: %w", err)
	}
	intro := Intro(ProtocolVersion)
	if _, err := conn.Write(intro); err != nil {
		return nil, fmt.Errorf("sending handshake to plugin at %s: %w", conn.RemoteAddr(), err)
	}
	greeting := make([]byte, GreetingSize)
	var probe *oldProbe
	if probing {
		probe = startOldProbe(conn, s, deadline)
	}
	n, err := io.ReadFull(conn, greeting)
	if old := probe.end(err); old != 0 {
		return nil, mismatch(old)
	}
	if err != nil {
		if v, ok := version(greeting[:n]); ok && v != ProtocolVersion {
			return nil, mismatch(v)
		}
		return nil, fmt.Errorf("the process at %s closed the connection before its greeting (it is not a plugwire plugin, or one older than protocol 2, or it gave up): %w",
			conn.RemoteAddr(), err)
	}
	v, ok := version(greeting)
	if !ok {
		return nil, fmt.Errorf("%w: the process at %s greeted with %q: not a plugwire plugin", ErrHandshake, conn.RemoteAddr(), greeting[:8])
	}
	if v != ProtocolVersion {
		return nil, mismatch(v)
	}
	proof, err := HostProof(s, greeting, intro)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(proof); err != nil {
		return nil, fmt.Errorf("sending handshake to plugin at %s: %w", conn.RemoteAddr(), err)
	}
	if err := conn.SetWriteDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clearing handshake write deadline: %w", err)
	}
	return &Pending{conn: conn, s: s, transcript: [][]byte{greeting, intro, proof}, done: make(chan struct{})}, nil
}

func mismatch(plugin uint32) error {
	return fmt.Errorf("%w: plugin speaks plugwire protocol %d, this host speaks %d; build both against the same plugwire release",
		ErrVersionMismatch, plugin, ProtocolVersion)
}

// Check reads the plugin's answer, exactly its bytes and no more, and
// checks it: the process on the port must prove the secret over the whole
// transcript. It clears the read deadline on success. Only the first call
// reads; later calls return its result.
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
	var answer [AnswerSize]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil {
		// Not ErrHandshake: the host decides whether the plugin process
		// ended, which is the usual reason.
		return fmt.Errorf("the process at %s closed the connection during the handshake (it rejected this host's proof, or it gave up): %w",
			conn.RemoteAddr(), err)
	}
	t := p.transcript
	want := Answer(p.s, answer[0], t[0], t[1], t[2])
	if !hmac.Equal(answer[1:], want[1:]) {
		return fmt.Errorf("%w: the process at %s did not prove this launch's secret: it is not the plugin this host started", ErrHandshake, conn.RemoteAddr())
	}
	if answer[0] != StatusOK {
		return fmt.Errorf("%w: the plugin at %s answered with unknown status %d", ErrHandshake, conn.RemoteAddr(), answer[0])
	}
	return conn.SetReadDeadline(time.Time{})
}

// prove is the plugin's side of the preamble on one accepted connection,
// within timeout. It reports whether the connection proved the secret;
// such a connection has had its answer and has no deadline left. claim is
// called once the host's proof is checked, before the answer: when it
// returns false (the connection was closed meanwhile) prove fails. For a
// host that introduced itself with another version, prove also returns
// that version. Whatever did not prove anything is left to the caller to
// close.
func prove(conn net.Conn, s Secret, timeout time.Duration, claim func() bool) (ok bool, other uint32) {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return false, 0
	}
	greeting, err := Greeting(ProtocolVersion)
	if err != nil {
		return false, 0
	}
	if _, err := conn.Write(greeting); err != nil {
		return false, 0
	}
	msg := make([]byte, IntroSize+ProofSize)
	if _, err := io.ReadFull(conn, msg[:IntroSize]); err != nil {
		return false, 0
	}
	intro := msg[:IntroSize]
	v, ok := version(intro)
	if !ok {
		return false, 0
	}
	if v != ProtocolVersion {
		// Unproven: a host of another version, or anyone saying so. The
		// host reports the mismatch from the greeting; the plugin keeps
		// waiting for its host rather than letting any local process end it.
		return false, v
	}
	if _, err := io.ReadFull(conn, msg[IntroSize:]); err != nil {
		return false, 0
	}
	proof := msg[IntroSize:]
	if !hmac.Equal(proof[nonceSize:], s.mac("host", greeting, intro, proof[:nonceSize])) || !claim() {
		return false, 0
	}
	if _, err := conn.Write(Answer(s, StatusOK, greeting, intro, proof)); err != nil {
		return false, 0
	}
	return conn.SetDeadline(time.Time{}) == nil, 0
}
