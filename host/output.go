package host

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// maxLine is the longest line forwarded as one; longer ones are split.
const maxLine = 64 * 1024

// lineWriter splits what a plugin writes into lines and hands each to
// emit. It never blocks on anything but emit, so a plugin writing a lot is
// never held up by the transport.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	max  int // longest line before it is emitted anyway
	emit func(line string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= w.max {
				n := w.max // emit may change w.max (the address line does)
				w.emit(string(w.buf[:n]))
				w.buf = append(w.buf[:0], w.buf[n:]...)
			}
			break
		}
		line := p[:i]
		if len(w.buf) > 0 {
			w.buf = append(w.buf, line...)
			line = w.buf
		}
		w.emit(strings.TrimSuffix(string(line), "\r"))
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// ReadFrom copies r into w through a 4 KiB buffer, so that os/exec's copy
// of a plugin's stdout or stderr does not hold 32 KiB per stream for the
// plugin's whole life.
func (w *lineWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 4096)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// tail keeps the last lines a plugin wrote to stderr, for error messages,
// and the first line of a Go panic or fatal error ("panic: ..."), which a
// long stack pushes out of the last lines.
type tail struct {
	mu     sync.Mutex
	lines  []string
	panic  string // the "panic: " line, once seen
	sincep int    // lines added since the panic line
}

const (
	tailLines   = 8
	tailLineLen = 300
)

func (t *tail) add(line string) {
	if len(line) > tailLineLen {
		line = line[:tailLineLen] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sincep++
	if len(t.lines) == tailLines {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:tailLines-1]
	}
	t.lines = append(t.lines, line)
}

// pin keeps line, the first line of a panic, whatever follows it.
func (t *tail) pin(line string) {
	if len(line) > tailLineLen {
		line = line[:tailLineLen] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.panic == "" {
		t.panic, t.sincep = line, 0
	}
}

// get returns the lines kept: the panic line first when the last lines no
// longer hold it, then "...", then the last lines.
func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.panic != "" && t.sincep >= len(t.lines) {
		return append([]string{t.panic, "..."}, t.lines...)
	}
	return append([]string(nil), t.lines...)
}

// stderrLogger forwards a plugin's stderr lines into an hclog Logger: hclog
// JSON entries keep their level, message and fields (a multi-line value,
// such as a panic's stack, has its tabs expanded: hclog's text format
// would show each as a literal \t); other lines are logged at the level
// their prefix names ("[WARN] ...", also after the time stamp the standard
// library's log or hclog's text format puts first), without the prefix
// and time stamp, which the host's Logger writes its own of; at Error from
// a Go panic on, and at plain (Debug when unset, as go-plugin does)
// otherwise. The tail kept for errors keeps the level prefix.
type stderrLogger struct {
	l       hclog.Logger
	tail    *tail
	plain   hclog.Level // Config.StderrLevel
	inPanic bool        // guarded by lineWriter's mutex
}

func (s *stderrLogger) line(line string) {
	if entry, ok := parseEntry(line); ok {
		s.tail.add(entry.msg)
		s.l.Log(entry.level, entry.msg, entry.args...)
		return
	}
	line = skipLogTime(line) // hclog stamps its own time
	s.tail.add(line)
	level := s.plain
	if level == hclog.NoLevel {
		level = hclog.Debug
	}
	if l, rest, ok := cutLevel(line); ok {
		level, line = l, rest
		if isYamuxRace(line) {
			level = hclog.Debug
		}
	} else if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		s.inPanic = true
		s.tail.pin(line)
		level = hclog.Error
	} else if s.inPanic {
		level = hclog.Error
	}
	s.l.Log(level, line)
}

// yamuxRaces are the lines yamux's default logger (go-plugin leaves it on
// stderr) writes when a stream's data or open crosses its close: a race the
// session recovers from, and whose consequence, if any, a call's error
// reports. Logged at Debug rather than as a warning or error the host's
// user can do nothing about.
var yamuxRaces = []string{
	"yamux: Discarding data for stream: ",
	"yamux: aborted stream open without inflight syn semaphore",
}

func isYamuxRace(line string) bool {
	for _, p := range yamuxRaces {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// levelPrefixes are the "[LEVEL]" prefixes a plain stderr line may start
// with: hclog's and go-plugin's, and yamux's "[ERR]".
var levelPrefixes = []struct {
	prefix string
	level  hclog.Level
}{
	{"[TRACE]", hclog.Trace},
	{"[DEBUG]", hclog.Debug},
	{"[INFO]", hclog.Info},
	{"[WARN]", hclog.Warn},
	{"[ERROR]", hclog.Error},
	{"[ERR]", hclog.Error},
}

// cutLevel returns the level a line's "[LEVEL]" prefix names, and the line
// without it and the spaces after it.
func cutLevel(line string) (hclog.Level, string, bool) {
	for _, p := range levelPrefixes {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			return p.level, strings.TrimLeft(rest, " "), true
		}
	}
	return hclog.NoLevel, line, false
}

// skipLogTime returns line without the time stamp it starts with, if any:
// "2006/01/02 15:04:05[.000000] ", as the standard library's log puts
// first by default, or "2006-01-02T15:04:05[.000][Z|±0700] ", as hclog's
// text format does.
func skipLogTime(line string) string {
	for _, layout := range []string{"2006/01/02 15:04:05", "2006-01-02T15:04:05"} {
		if rest, ok := cutStamp(line, layout); ok {
			if strings.HasPrefix(rest, ".") {
				rest = strings.TrimLeft(rest[1:], "0123456789")
			}
			if layout[4] == '-' { // hclog's zone: Z or ±hhmm
				rest = strings.TrimLeft(rest, "Z+-0123456789:")
			}
			if rest, ok := strings.CutPrefix(rest, " "); ok {
				return rest
			}
		}
	}
	return line
}

// cutStamp returns line after a date and time shaped as layout (digits
// where layout has digits, the same separators), if it starts with one.
func cutStamp(line, layout string) (string, bool) {
	if len(line) < len(layout) {
		return line, false
	}
	for i, c := range []byte(layout) {
		if d := line[i]; (c >= '0' && c <= '9') != (d >= '0' && d <= '9') || (c < '0' || c > '9') && c != d {
			return line, false
		}
	}
	return line[len(layout):], true
}

type entry struct {
	level hclog.Level
	msg   string
	args  []any
}

// parseEntry reads one hclog JSON log line.
func parseEntry(line string) (entry, bool) {
	if !strings.HasPrefix(line, "{") {
		return entry{}, false
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		return entry{}, false
	}
	msg, ok := raw["@message"].(string)
	if !ok {
		return entry{}, false
	}
	e := entry{msg: msg, level: hclog.Info}
	if lv, ok := raw["@level"].(string); ok {
		if l := hclog.LevelFromString(lv); l != hclog.NoLevel {
			e.level = l
		}
	}
	for _, k := range []string{"@message", "@level", "@timestamp"} {
		delete(raw, k)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := raw[k]
		if s, ok := v.(string); ok && strings.Contains(s, "\n") {
			v = strings.ReplaceAll(s, "\t", "    ")
		}
		e.args = append(e.args, strings.TrimPrefix(k, "@"), v)
	}
	return e, true
}
