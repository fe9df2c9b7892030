// Package cli gives every command under cmd/ (and bootstrap/githubsettings)
// the same shape: a testable entry point
//
//	func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
//
// and a one-line main, cli.Main(name, run), which cancels the run's context
// on SIGINT or SIGTERM, reports the returned error as "<name>: <error>" on
// stderr and exits with the status the error carries (see ExitCode). A
// command's own exit statuses are ExitErrors it returns; a plain error is
// ExitFailed.
//
// The same command line contract too: a Command describes the command, its
// Parse (and Sub, for subcommands) is the one place its flags are parsed,
// and its PrintUsage the one place its usage is printed. -h prints the
// usage on stdout and exits 0, a refused command line exits 2 (ExitUsage)
// with the reason and the usage line on stderr, a failure exits 1.
//
// It is a package of its own, on the standard library alone, rather than a
// part of internal/command/opstool: opstool brings the Google Cloud client
// libraries, which plan, plandiff, policy, teststack and benchcheck have no
// use for, and plandiff builds cmd/plan afresh for every base revision it
// compares.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Func is a command's testable entry point: main with the process's
// arguments (without the program name), standard streams and a context
// that a signal cancels.
type Func func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// Option changes what Main says when it is interrupted.
type Option func(*options)

type options struct {
	stopping, atOnce string
}

// OnInterrupt replaces what Main says on the first signal ("interrupted:
// <stopping> (press Ctrl-C again to exit at once)") and on the second
// ("interrupted again: <atOnce>").
func OnInterrupt(stopping, atOnce string) Option {
	return func(o *options) { o.stopping, o.atOnce = stopping, atOnce }
}

// Main runs a command and exits. The first SIGINT or SIGTERM cancels the
// run's context, so the command stops promptly and cleans up after itself;
// a second one exits at once with ExitInterrupted. When run fails, Main
// prints "<name>: <error>" on stderr (see Report) and exits with
// ExitCode(err).
func Main(name string, run Func, opts ...Option) {
	os.Exit(mainWith(name, run, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Exit, opts...))
}

// mainWith is Main with its process injected.
func mainWith(name string, run Func, args []string, stdin io.Reader, stdout, stderr io.Writer, exit func(int), opts ...Option) int {
	o := options{stopping: "stopping", atOnce: "exiting at once"}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	again := make(chan os.Signal, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		// ctx is cancelled by a signal only: stop runs after done is closed.
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		watchSignals(again, done, stderr, name, o, exit)
	}()
	return Run(ctx, name, run, args, stdin, stdout, stderr)
}

// watchSignals runs after the first signal has cancelled the run: it says
// so, and turns the next signal on again into exit(ExitInterrupted), unless
// the run ends first (done is closed).
func watchSignals(again <-chan os.Signal, done <-chan struct{}, stderr io.Writer, name string, o options, exit func(int)) {
	fmt.Fprintf(stderr, "\n%s: interrupted: %s (press Ctrl-C again to exit at once)\n", name, o.stopping)
	select {
	case <-done:
	case <-again:
		fmt.Fprintf(stderr, "%s: interrupted again: %s\n", name, o.atOnce)
		exit(ExitInterrupted)
	}
}

// Run runs a command with the given context and streams, reports its error
// as Main does and returns the exit status Main would exit with. Tests run
// commands through it.
func Run(ctx context.Context, name string, run Func, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	Report(stderr, name, err)
	return ExitCode(err)
}

// Report prints "<name>: <err>" on w, unless there is nothing to say: err
// is nil, flag.ErrHelp (the usage was asked for and printed), or an
// ExitError without an error (the command has said why already). After a
// Command's UsageError it prints that command's usage line.
func Report(w io.Writer, name string, err error) {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return
	}
	var e *ExitError
	if errors.As(err, &e) && e.Err == nil {
		return
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	var u *usageError
	if errors.As(err, &u) {
		u.printShortUsage(w)
	}
}
