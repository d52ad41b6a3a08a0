package plugwiretest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/plugwire/plugwire/shared"
)

// stuckBuilder's Run ignores its context until released.
type stuckBuilder struct{ started, release chan struct{} }

func (stuckBuilder) Prepare(any) error { return nil }
func (b stuckBuilder) Run(context.Context, shared.Build, shared.Ui) error {
	close(b.started)
	<-b.release
	return nil
}

// errorTB records Errorf and then runs onError.
type errorTB struct {
	testing.TB
	msg     string
	onError func()
}

func (e *errorTB) Errorf(format string, a ...any) {
	e.msg = fmt.Sprintf(format, a...)
	e.onError()
}

// A method that does not return once cancelled fails the test, naming it.
func TestStuckCallIsReported(t *testing.T) {
	b := stuckBuilder{started: make(chan struct{}), release: make(chan struct{})}
	k, err := serve(map[string]plugin.Plugin{"builder": &shared.BuilderPlugin{Impl: b}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.rpc.Dispense("builder")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- raw.(shared.Builder).Run(context.Background(), nil, nil) }()
	<-b.started
	rec := &errorTB{TB: t, onError: func() { close(b.release) }}
	start := time.Now()
	k.close(rec, 50*time.Millisecond)
	if want := "still running [Builder.Run] after their context was cancelled"; !strings.Contains(rec.msg, want) {
		t.Fatalf("error %q, want one containing %q", rec.msg, want)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("reported after %v, before the grace of 50ms", d)
	}
	<-errc
}
