package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitCode(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"plain error", base, ExitFailed},
		{"usage", UsageError(base), ExitUsage},
		{"wrapped code", fmt.Errorf("wrapped: %w", WithExit(4, base)), 4},
		{"outermost code wins", WithExit(3, fmt.Errorf("x: %w", WithExit(4, base))), 3},
		{"code without a message", Exit(1), 1},
		{"help was asked for and printed", flag.ErrHelp, ExitOK},
		{"help, wrapped", fmt.Errorf("x: %w", flag.ErrHelp), ExitOK},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
	if WithExit(ExitUsage, nil) != nil {
		t.Error("WithExit(nil) is not nil")
	}
}

func TestRunReports(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantStderr string
	}{
		{"success", nil, ExitOK, ""},
		{"plain error", errors.New("boom"), ExitFailed, "tool: boom\n"},
		{"coded error", WithExit(2, errors.New("bad flag")), 2, "tool: bad flag\n"},
		{"said already", Exit(1), 1, ""},
		{"said already, wrapped", fmt.Errorf("x: %w", Exit(2)), 2, ""},
		{"help printed", flag.ErrHelp, ExitOK, ""},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		run := func(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
			fmt.Fprint(stdout, strings.Join(args, " "))
			return tt.err
		}
		code := Run(context.Background(), "tool", run, []string{"a", "b"}, nil, &stdout, &stderr)
		if code != tt.wantCode || stderr.String() != tt.wantStderr || stdout.String() != "a b" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, %q, %q", tt.name, code, stdout.String(), stderr.String(), tt.wantCode, "a b", tt.wantStderr)
		}
	}
}

// writes hands each Write to the test: the watcher writes from its own
// goroutine, and a message says how far it has got.
type writes chan string

func (w writes) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// TestFirstSignalCancelsSecondExits sends the test process real SIGINTs
// while mainWith runs: the first cancels the run's context, the second
// exits with ExitInterrupted (the exit is injected, so the test goes on).
func TestFirstSignalCancelsSecondExits(t *testing.T) {
	stderr := make(writes, 10)
	exited := make(chan int, 1)
	next := func(what string) string {
		select {
		case s := <-stderr:
			return s
		case <-time.After(10 * time.Second):
			t.Errorf("timed out waiting for %s", what)
			return ""
		}
	}
	var first, second string
	run := func(ctx context.Context, _ []string, _ io.Reader, _, _ io.Writer) error {
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			return errors.New("the first signal did not cancel the run")
		}
		// The watcher says so once it listens for the second signal.
		first = next("the first message")
		select {
		case code := <-exited:
			return fmt.Errorf("the first signal exited (%d); it must only cancel", code)
		default:
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			return err
		}
		second = next("the second message")
		return WithExit(ExitInterrupted, errors.New("stopped"))
	}
	code := mainWith("tool", run, nil, nil, io.Discard, stderr, func(code int) { exited <- code },
		OnInterrupt("handing work back", "exiting now; held work comes back by itself"))
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d", code, ExitInterrupted)
	}
	select {
	case got := <-exited:
		if got != ExitInterrupted {
			t.Errorf("the second signal exited %d, want %d", got, ExitInterrupted)
		}
	default:
		t.Error("the second signal did not exit")
	}
	for _, c := range []struct{ got, want string }{
		{first, "\ntool: interrupted: handing work back (press Ctrl-C again to exit at once)\n"},
		{second, "tool: interrupted again: exiting now; held work comes back by itself\n"},
		{next("the error"), "tool: stopped\n"},
	} {
		if c.got != c.want {
			t.Errorf("stderr %q, want %q", c.got, c.want)
		}
	}
}

// TestNoSignalNoMessage: a run that ends by itself says nothing about
// signals, and a later one is not affected.
func TestNoSignalNoMessage(t *testing.T) {
	for range 2 {
		var stderr bytes.Buffer
		run := func(ctx context.Context, _ []string, _ io.Reader, _, _ io.Writer) error { return ctx.Err() }
		if code := mainWith("tool", run, nil, nil, io.Discard, &stderr, func(int) { t.Error("exited") }); code != ExitOK || stderr.Len() != 0 {
			t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr.String())
		}
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList(" a, b ,,c ,")
	if strings.Join(got, "|") != "a|b|c" {
		t.Errorf("SplitList = %q", got)
	}
	if SplitList("") != nil || SplitList(" , ") != nil {
		t.Error("an empty list is not nil")
	}
}

type custom struct{ s string }

func (c *custom) String() string     { return c.s }
func (c *custom) Set(s string) error { c.s = s; return nil }

func TestPrintFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("name", "", "the `NAME` to use")
	fs.String("dir", ".", "project directory")
	fs.Bool("force", false, "do it anyway")
	fs.Int("max", 0, "at most this many")
	fs.Duration("ttl", 0, "time to live")
	fs.Duration("wait", 5*time.Second, "how long to wait")
	fs.Var(&custom{"0s"}, "delay", "a custom value\nover two lines")
	fs.String("endpoint", "", "test hook")
	var b bytes.Buffer
	PrintFlags(&b, fs, map[string]bool{"endpoint": true})
	want := `  --delay value
    	a custom value
    	over two lines (default 0s)
  --dir string
    	project directory (default .)
  --force
    	do it anyway
  --max int
    	at most this many
  --name NAME
    	the NAME to use
  --ttl duration
    	time to live
  --wait duration
    	how long to wait (default 5s)
`
	if b.String() != want {
		t.Errorf("PrintFlags wrote\n%s\nwant\n%s", b.String(), want)
	}
}
