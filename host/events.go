package host

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// EventKind says what happened to a supervised plugin's process.
type EventKind int

// The kinds of Event.
const (
	// EventStarted: a process started and completed the handshake (Pid).
	EventStarted EventKind = iota + 1
	// EventExited: the process ended, or a restart failed to start one
	// (Pid, when it had one; Err says how: exit status, signal, killed by
	// the host and why, lost connection, or the start's error).
	EventExited
	// EventUnhealthy: the process failed SupervisorOptions.HealthFailures
	// health checks in a row and is being killed (Pid; Err is the last
	// failed Ping).
	EventUnhealthy
	// EventRestarting: a restart is due after Backoff; Attempt counts the
	// restarts within the crash-loop window, from 1.
	EventRestarting
	// EventGaveUp: the plugin is crash-looping and is not restarted (Err
	// wraps ErrCrashLoop and says until when).
	EventGaveUp
)

func (k EventKind) String() string {
	switch k {
	case EventStarted:
		return "started"
	case EventExited:
		return "exited"
	case EventUnhealthy:
		return "unhealthy"
	case EventRestarting:
		return "restarting"
	case EventGaveUp:
		return "gave up"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something that happened to a Supervisor's process, for a host
// to show or count (SupervisorOptions.OnEvent). Each is also logged on
// Config.Logger: started, restarting and an exit the host asked for at
// Info, an exit it did not ask for and unhealthy at Warn, gave up at Error.
type Event struct {
	Kind    EventKind
	Plugin  string        // the plugin's name, as in its log lines
	Time    time.Time     // when it happened
	Pid     int           // the process; 0 when there was none
	Attempt int           // EventRestarting: the restart's number within the window, from 1
	Backoff time.Duration // EventRestarting: the wait before the restart
	Err     error         // EventExited: how it ended; EventUnhealthy: the last Ping's error; EventGaveUp: wraps ErrCrashLoop

	ended bool // EventExited: the supervision ended (Kill, CleanupClients)
}

// String is a line for a person: "exited: plugin process exited: ...".
func (e Event) String() string {
	switch e.Kind {
	case EventStarted:
		return fmt.Sprintf("%s: started (pid %d)", e.Plugin, e.Pid)
	case EventRestarting:
		return fmt.Sprintf("%s: restarting in %v (restart %d)", e.Plugin, e.Backoff.Round(time.Millisecond), e.Attempt)
	case EventUnhealthy:
		return fmt.Sprintf("%s: unhealthy (pid %d), killing it: %v", e.Plugin, e.Pid, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Plugin, e.Kind, e.Err)
}

// emit logs e and hands it to OnEvent.
func (s *Supervisor) emit(e Event) {
	e.Plugin, e.Time = s.name, time.Now()
	args := []any{"event", e.Kind.String()}
	if e.Pid != 0 {
		args = append(args, "pid", e.Pid)
	}
	level, msg := hclog.Info, "supervised plugin "+e.Kind.String()
	switch e.Kind {
	case EventExited:
		args = append(args, "how", e.Err)
		if !e.ended {
			level = hclog.Warn
		}
	case EventUnhealthy:
		level = hclog.Warn
		args = append(args, "error", e.Err)
	case EventRestarting:
		args = append(args, "attempt", e.Attempt, "backoff", e.Backoff.Round(time.Millisecond).String())
	case EventGaveUp:
		level = hclog.Error
		args = append(args, "error", e.Err)
	}
	s.logger.Log(level, msg, args...)
	if s.o.OnEvent != nil {
		s.o.OnEvent(e)
	}
}
