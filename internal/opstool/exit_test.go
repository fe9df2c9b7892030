package opstool

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestExitCode(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{base, ExitFailed},
		{UsageError(base), ExitUsage},
		{fmt.Errorf("wrapped: %w", WithExit(ExitIncomplete, base)), ExitIncomplete},
		{WithExit(ExitNotAcknowledged, base), ExitNotAcknowledged},
		{WithExit(ExitInterrupted, base), ExitInterrupted},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	if WithExit(ExitUsage, nil) != nil {
		t.Error("WithExit(nil) is not nil")
	}
	for _, code := range []string{"0 ", "1 ", "2 ", "3 ", "4 ", "130 "} {
		if !strings.Contains(ExitStatusHelp, "  "+code) {
			t.Errorf("ExitStatusHelp lacks status %s", code)
		}
	}
}

func TestFirstSignalCancelsSecondExits(t *testing.T) {
	sigs := make(chan struct{}, 2)
	var cancelled atomic.Bool
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchSignals(sigs, func() { cancelled.Store(true) }, &stderr, "deadletters", func(code int) { exited <- code })
	}()
	sigs <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for !cancelled.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !cancelled.Load() {
		t.Fatal("the first signal did not cancel the run")
	}
	select {
	case code := <-exited:
		t.Fatalf("the first signal exited (%d); it must only cancel", code)
	case <-time.After(50 * time.Millisecond):
	}
	sigs <- struct{}{}
	select {
	case code := <-exited:
		if code != ExitInterrupted {
			t.Errorf("second signal exited %d, want %d", code, ExitInterrupted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not exit")
	}
	<-done
	if !strings.Contains(stderr.String(), "press Ctrl-C again to exit at once") {
		t.Errorf("stderr %q does not explain the second Ctrl-C", stderr.String())
	}
}
