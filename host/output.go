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
// JSON entries keep their level, message and fields; other lines are
// logged at the level their prefix names ("[WARN] ...", also after the
// date and time the standard library's log puts first), at Error from a Go
// panic on, and at plain (Debug when unset, as go-plugin does) otherwise.
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
	switch {
	case strings.HasPrefix(line, "[TRACE]"):
		level = hclog.Trace
	case strings.HasPrefix(line, "[DEBUG]"):
		level = hclog.Debug
	case strings.HasPrefix(line, "[INFO]"):
		level = hclog.Info
	case strings.HasPrefix(line, "[WARN]"):
		level = hclog.Warn
	case strings.HasPrefix(line, "[ERROR]"), strings.HasPrefix(line, "[ERR]"):
		level = hclog.Error
	case strings.HasPrefix(line, "panic: "), strings.HasPrefix(line, "fatal error: "):
		s.inPanic = true
		s.tail.pin(line)
		level = hclog.Error
	case s.inPanic:
		level = hclog.Error
	}
	s.l.Log(level, line)
}

// skipLogTime returns line without the "2006/01/02 15:04:05[.000000] "
// the standard library's log starts lines with by default, if it has one.
func skipLogTime(line string) string {
	const date, clock = "2006/01/02 ", "15:04:05"
	if len(line) < len(date)+len(clock) {
		return line
	}
	for i, c := range []byte(date + clock) {
		if d := line[i]; (c >= '0' && c <= '9') != (d >= '0' && d <= '9') || (c < '0' || c > '9') && c != d {
			return line
		}
	}
	rest := line[len(date)+len(clock):]
	if strings.HasPrefix(rest, ".") {
		rest = strings.TrimLeft(rest[1:], "0123456789")
	}
	return strings.TrimPrefix(rest, " ")
}

type entry struct {
	level hclog.Level
	msg   string
	args  []interface{}
}

// parseEntry reads one hclog JSON log line.
func parseEntry(line string) (entry, bool) {
	if !strings.HasPrefix(line, "{") {
		return entry{}, false
	}
	var raw map[string]interface{}
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
		e.args = append(e.args, strings.TrimPrefix(k, "@"), raw[k])
	}
	return e, true
}
