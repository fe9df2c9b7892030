package opstool

import (
	"errors"
	"fmt"
	"io"
)

// Exit statuses of the operations commands. docs/operations.md lists them;
// keep the two in step.
const (
	// ExitOK: the run did everything it was asked to.
	ExitOK = 0
	// ExitFailed: the run failed (a publish or a call to Google Cloud
	// failed, a file could not be read); nothing was lost, and what failed
	// is still where it was.
	ExitFailed = 1
	// ExitUsage: the command line or an input was refused before any
	// call to Google Cloud was made.
	ExitUsage = 2
	// ExitNotAcknowledged: messages were republished but could not be
	// acknowledged on the dead-letter subscription; a later replay would
	// publish them a second time.
	ExitNotAcknowledged = 3
	// ExitIncomplete: the run stopped while matching messages may still be
	// waiting (the backlog was not exhausted); run it again.
	ExitIncomplete = 4
	// ExitInterrupted: the run was stopped by Ctrl-C (SIGINT) or SIGTERM;
	// 128 + SIGINT, as shells report it.
	ExitInterrupted = 130
)

// ExitStatusHelp is the exit-status section of the commands' --help.
const ExitStatusHelp = `Exit status:
  0    done: everything asked for was done
  1    failed: a publish or a Google Cloud call failed (nothing lost)
  2    usage: the command line or an input was refused; nothing was called
  3    not acknowledged: republished, but left on the dead-letter
       subscription; a later replay would publish those messages again
  4    incomplete: stopped with matching messages possibly left; run again
  130  interrupted (Ctrl-C or SIGTERM); unfinished work was handed back`

// ExitError carries the exit status a command's error should end it with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// WithExit attaches exit status code to err; nil stays nil.
func WithExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// UsageError marks err as refused input (ExitUsage).
func UsageError(err error) error { return WithExit(ExitUsage, err) }

// ExitCode returns the exit status for err: ExitOK for nil, the code of
// the outermost ExitError in its chain, else ExitFailed.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailed
}

// watchSignals turns the first signal on sigc into cancel (stop promptly,
// handing unfinished work back) and the second into exit(ExitInterrupted)
// at once.
func watchSignals(sigc <-chan struct{}, cancel func(), stderr io.Writer, name string, exit func(int)) {
	if _, ok := <-sigc; !ok {
		return
	}
	fmt.Fprintf(stderr, "\n%s: interrupted: stopping and handing unfinished work back (press Ctrl-C again to exit at once)\n", name)
	cancel()
	if _, ok := <-sigc; !ok {
		return
	}
	fmt.Fprintf(stderr, "%s: interrupted again: exiting at once; messages still held return to their subscription by themselves within their ack deadline\n", name)
	exit(ExitInterrupted)
}
