package host

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"time"
)

// The plugin's stdout and stderr reach the host through pipes it makes
// itself (on Unix) rather than through os/exec's copying: Cmd.Wait either
// waits for every process holding a pipe (a grandchild can hold it for
// ever) or, with WaitDelay, closes the pipes a fixed time after the exit,
// which loses what the plugin wrote last when the host is short of CPU.
// Once the plugin has exited, an outputPipe reads everything the pipe held
// at that moment, however long that takes, then goes on while a grandchild
// still writes, up to drainMax.
const (
	drainIdle = 100 * time.Millisecond // a grandchild silent this long is done
	drainMax  = 500 * time.Millisecond // what a grandchild may add after the exit
)

// outputs are the plugin's two output streams.
type outputs struct {
	pipes []*outputPipe
	child []*os.File // the plugin's ends, closed here once it started
}

// newOutputs connects cmd's stdout and stderr to stdout and stderr.
func newOutputs(cmd *exec.Cmd, stdout, stderr *lineWriter) (*outputs, error) {
	if !ownPipes {
		cmd.Stdout, cmd.Stderr = stdout, stderr
		// A grandchild that inherited the plugin's stdout or stderr must
		// not keep Wait, and so Kill, from returning.
		cmd.WaitDelay = drainMax
		return &outputs{}, nil
	}
	o := &outputs{}
	for _, w := range []*lineWriter{stdout, stderr} {
		r, cw, err := os.Pipe()
		if err != nil {
			o.abort()
			return nil, err
		}
		o.pipes = append(o.pipes, &outputPipe{r: r, w: w, done: make(chan struct{})})
		o.child = append(o.child, cw)
	}
	cmd.Stdout, cmd.Stderr = o.child[0], o.child[1]
	return o, nil
}

// started closes the host's copies of the plugin's ends and starts
// reading.
func (o *outputs) started() {
	for _, f := range o.child {
		_ = f.Close()
	}
	o.child = nil
	for _, p := range o.pipes {
		go p.copy()
	}
}

// abort closes everything, for a process that did not start.
func (o *outputs) abort() {
	for _, f := range o.child {
		_ = f.Close()
	}
	for _, p := range o.pipes {
		_ = p.r.Close()
	}
}

// drain reads what the plugin, now exited, left in its pipes, and flushes
// the last lines.
func (o *outputs) drain(stdout, stderr *lineWriter) {
	var wg sync.WaitGroup
	for _, p := range o.pipes {
		wg.Go(p.drain)
	}
	wg.Wait()
	stdout.flush()
	stderr.flush()
}

// outputPipe copies one pipe into a lineWriter.
type outputPipe struct {
	r    *os.File
	w    *lineWriter
	done chan struct{}

	mu     sync.Mutex
	exitAt time.Time // zero until the plugin exited

	// Only copy uses these.
	measured bool
	need     int // bytes still to read of what the pipe held at the exit
}

func (p *outputPipe) copy() {
	defer close(p.done)
	defer p.r.Close()
	buf := make([]byte, 4096)
	for {
		n, err := p.r.Read(buf)
		if n > 0 {
			_, _ = p.w.Write(buf[:n])
			p.need -= n
		}
		switch {
		case err == nil:
		case !errors.Is(err, os.ErrDeadlineExceeded) || p.stop():
			return // the end of the pipe, or the drain is over
		default:
			_ = p.r.SetReadDeadline(time.Now().Add(drainIdle))
		}
	}
}

// stop decides, at a read deadline after the exit, whether to stop
// reading: once everything the pipe held at the exit has been read, and
// nothing more is waiting or drainMax has passed. The first time, it
// measures what the pipe holds: copy is the pipe's only reader and has
// written out all it read, so that is exactly what is left.
func (p *outputPipe) stop() bool {
	p.mu.Lock()
	exitAt := p.exitAt
	p.mu.Unlock()
	if !p.measured {
		p.measured, p.need = true, pending(p.r)
	}
	if p.need > 0 {
		return false
	}
	return pending(p.r) == 0 || time.Since(exitAt) >= drainMax
}

// drain is called once the plugin has exited; it returns when copy has.
func (p *outputPipe) drain() {
	p.mu.Lock()
	p.exitAt = time.Now()
	p.mu.Unlock()
	_ = p.r.SetReadDeadline(time.Now())
	<-p.done
}
