package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/plugwire/plugwire/internal/testutil"
)

// A callback offered right after a Dispense reaches the plugin. The
// plugin's MuxBroker keys the streams it accepts by id: the id of a
// dispensed object (from the plugin's counter) and the id of a callback the
// host offers (from the host's counter) must not collide there, or the
// callback stream is lost and the call fails after MuxBroker's 5 s accept
// timeout, or the plugin panics ("close of closed channel") in
// MuxBroker.Accept. Each round dispenses afresh (the plugin's next id) and
// at once offers a Ui (the host's next id), so the ids match every round;
// whether a round hits the window depends on scheduling (without the fix
// about one run in five fails here, most under load).
func TestCallbackRightAfterDispense(t *testing.T) {
	t.Parallel()
	p := newPlug(t, nil, "serve")
	// Every dispensed object keeps a stream open until Kill, and yamux
	// v0.1.2's Session.Close is slow with many open streams: stay modest.
	const rounds = 30
	for i := range rounds {
		b, err := p.Builder()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := b.Prepare(map[string]any{"run": "say"}); err != nil {
				t.Fatal(err)
			}
		}
		said := make(chan struct{}, 1)
		start := time.Now()
		err = b.Run(context.Background(), nil, uiFunc(func(string) { said <- struct{}{} }))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("round %d: Run with a Ui right after Dispense: %v (after %v)", i, err, took.Round(time.Millisecond))
		}
		if took > testutil.Slack(2*time.Second) {
			t.Errorf("round %d: Run with a Ui right after Dispense took %v", i, took.Round(time.Millisecond))
		}
		select {
		case <-said:
		default:
			t.Fatalf("round %d: the plugin's Say never reached the host's Ui", i)
		}
	}
}
