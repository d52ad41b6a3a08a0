package rpcx

import (
	"context"
	"testing"
	"time"
)

// A call's context ends the way its caller's did: DeadlineExceeded when
// the deadline passed here or there, Canceled otherwise; a cancel that
// arrives before its call is kept for it.
func TestCallContextEnds(t *testing.T) {
	past := time.Now().Add(-time.Second)
	for _, tc := range []struct {
		name     string
		deadline time.Time
		before   *CancelArgs // a cancel that arrives before Start
		after    func(c *Cancels, sess *Session)
		want     error
	}{
		{name: "deadline passed before the call", deadline: past, want: context.DeadlineExceeded},
		{name: "deadline passes here", deadline: time.Now().Add(20 * time.Millisecond), want: context.DeadlineExceeded},
		{name: "caller's deadline passed first", deadline: time.Now().Add(time.Hour),
			after: func(c *Cancels, _ *Session) { c.Cancel(CancelArgs{CallID: 1, Deadline: true}) }, want: context.DeadlineExceeded},
		{name: "cancelled", after: func(c *Cancels, _ *Session) { c.Cancel(CancelArgs{CallID: 1}) }, want: context.Canceled},
		{name: "cancel before the call", before: &CancelArgs{CallID: 1}, want: context.Canceled},
		{name: "deadline cancel before the call", before: &CancelArgs{CallID: 1, Deadline: true}, want: context.DeadlineExceeded},
		{name: "stream ended", after: func(c *Cancels, _ *Session) { c.EndAll() }, want: context.Canceled},
		{name: "session ended", after: func(_ *Cancels, s *Session) { s.End() }, want: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sess Session
			c := &Cancels{Session: &sess}
			if tc.before != nil {
				c.Cancel(*tc.before)
			}
			ctx, done := c.Start(1, tc.deadline)
			if d, ok := ctx.Deadline(); ok != !tc.deadline.IsZero() || !d.Equal(tc.deadline) {
				t.Errorf("Deadline() = %v, %v; want %v", d, ok, tc.deadline)
			}
			if tc.after != nil {
				tc.after(c, &sess)
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("ctx not done within 5 s")
			}
			if err := ctx.Err(); err != tc.want {
				t.Errorf("Err() = %v, want %v", err, tc.want)
			}
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			if err := child.Err(); err != tc.want {
				t.Errorf("a child's Err() = %v, want %v", err, tc.want)
			}
			if sess.Running() != 1 {
				t.Errorf("Running() = %d before the method returned, want 1", sess.Running())
			}
			done()
			if !sess.Wait(0) || sess.Running() != 0 {
				t.Errorf("the session still counts a call that returned")
			}
		})
	}
}

// Session.Wait waits for the calls running to return, up to its bound,
// and End cancels later calls too.
func TestSessionWait(t *testing.T) {
	var sess Session
	c := &Cancels{Session: &sess}
	ctx, done := c.Start(1, time.Time{})
	sess.End()
	<-ctx.Done()
	if sess.Wait(10 * time.Millisecond) {
		t.Error("Wait returned true while a call runs")
	}
	go func() {
		<-ctx.Done()
		done()
	}()
	if !sess.Wait(5 * time.Second) {
		t.Error("Wait returned false although the call returned")
	}
	later, done2 := c.Start(2, time.Time{})
	defer done2()
	if later.Err() != context.Canceled {
		t.Errorf("a call started after End: Err() = %v, want context.Canceled", later.Err())
	}
}

// A call without a context (Begin) counts as running until Finish: End
// has nothing to cancel in it, but Wait waits for it.
func TestSessionCountsPlainCalls(t *testing.T) {
	var sess Session
	sess.Begin()
	c := &Cancels{Session: &sess}
	_, done := c.Start(1, time.Time{})
	if n := sess.Running(); n != 2 {
		t.Errorf("Running() = %d, want 2", n)
	}
	done()
	sess.End()
	if sess.Wait(10 * time.Millisecond) {
		t.Error("Wait returned true while a call without a context runs")
	}
	go sess.Finish()
	if !sess.Wait(5 * time.Second) {
		t.Error("Wait returned false although the call returned")
	}
	if n := sess.Running(); n != 0 {
		t.Errorf("Running() = %d after every call returned, want 0", n)
	}
}
