package cli

import (
	"errors"
	"flag"
	"fmt"
)

// The exit statuses every command shares. A command documents the rest
// (and what 1 and 2 mean for it) next to its own constants.
const (
	// ExitOK: the run did what it was asked to.
	ExitOK = 0
	// ExitFailed: the run failed; a plain error from run exits with it.
	ExitFailed = 1
	// ExitUsage: the command line was refused.
	ExitUsage = 2
	// ExitInterrupted: Ctrl-C (SIGINT) or SIGTERM stopped the run; Main
	// exits with it at once on the second signal. 128 + SIGINT, as shells
	// report it.
	ExitInterrupted = 130
)

// ExitError ends a command with exit status Code. Err says why; when it is
// nil, the command has said so already and Main prints nothing.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// WithExit attaches exit status code to err; nil stays nil.
func WithExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Exit ends a command with exit status code and nothing more to print.
func Exit(code int) error { return &ExitError{Code: code} }

// UsageError marks err as a refused command line or input (ExitUsage).
// A Command's UsageError adds the command's usage line to the report.
func UsageError(err error) error { return WithExit(ExitUsage, err) }

// ExitCode is the exit status of a run that returned err: ExitOK for nil,
// the code of the outermost ExitError in err's chain, ExitOK for
// flag.ErrHelp (-h: Command.Parse has printed the usage asked for), else
// ExitFailed.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitFailed
}
