// Command deadletters inspects and replays the messages on a subscription's
// dead-letter subscription.
//
// inspect pulls dead letters and shows them without acknowledging any: every
// message is handed back (nacked) when the run ends. replay republishes each
// dead letter to its original topic with its data, attributes and ordering
// key, and acknowledges a dead letter only after the publish was confirmed;
// a message whose publish failed, or that was skipped, is handed back.
//
// The dead-letter subscription and the topic come from the stack's outputs
// (--outputs FILE or --stack NAME, with --pair "<topic>/<subscription>" when
// there are several) or from --dead-letter-subscription and --topic.
//
// Usage:
//
//	deadletters inspect --stack dev --pair jobs/jobs-worker
//	deadletters replay --stack dev --pair jobs/jobs-worker --dry-run
//	deadletters replay --outputs outputs.json --filter-attribute kind=report --rate 10
package main

import (
	"context"
	"io"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
)

func main() { cli.Main(root.Name, run, opstool.Interrupt) }

// run executes one subcommand. Its third argument, standard input, is not
// read; it keeps the entry point every command has (cli.Func).
func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	a := &app{stdout: stdout, stderr: stderr}
	return a.run(ctx, args)
}

var root = &cli.Command{
	Name: "deadletters",
	Long: `Inspects and replays the messages on a subscription's dead-letter
subscription. PUBSUB_EMULATOR_HOST=host:port points both subcommands at a
Pub/Sub emulator.

` + opstool.ExitStatusHelp,
	Commands: []*cli.Command{inspectCmd, replayCmd},
}

// app runs the subcommands.
type app struct {
	stdout, stderr io.Writer
	// wrapPublisher, when set, wraps the publisher replay uses; tests inject
	// publish failures with it.
	wrapPublisher func(publisher) publisher
	// wrapSource, when set, wraps the dead-letter subscription.
	wrapSource func(deadLetterSource) deadLetterSource
	// now is the clock holds are timed with (time.Now when nil).
	now func() time.Time
	// renewEvery is how often holds are checked for renewal (0: renewEvery).
	renewEvery time.Duration
	// tty: stderr is a terminal (a status line instead of progress lines).
	// ttyKnown: tty was set by a test.
	tty, ttyKnown bool
	// termWidth is the terminal's width, 0 when stdout is not a terminal.
	termWidth int
	// progressInterval is the longest pause between plain progress lines.
	progressInterval time.Duration
	// interruptGrace bounds the wait for sent publishes after an interrupt.
	interruptGrace time.Duration

	width int // table width of this run
}

// run picks the subcommand, parses its flags and runs it. Every input
// refused is a usage error; -h prints the usage on stdout.
func (a *app) run(ctx context.Context, args []string) error {
	sub, rest, err := root.Sub(args, a.stdout)
	if err != nil {
		return err
	}
	cfg, err := parse(ctx, sub, rest, a.stdout)
	if err != nil {
		return sub.UsageError(err)
	}
	return a.execute(ctx, cfg)
}

// defaultWidth is the table width when stdout is not a terminal.
const defaultWidth = 120

// setup fills in what the process's environment decides.
func (a *app) setup(cfg *config) {
	if !a.ttyKnown {
		a.tty = isTerminal(a.stderr)
		a.termWidth = terminalWidth(a.stdout)
	}
	switch {
	case cfg.width > 0:
		a.width = cfg.width
	case a.termWidth > 0:
		a.width = a.termWidth
	default:
		a.width = defaultWidth
	}
	if a.progressInterval <= 0 {
		a.progressInterval = 10 * time.Second
	}
	if a.interruptGrace <= 0 {
		a.interruptGrace = interruptGrace
	}
}

// execute connects to Pub/Sub and runs the parsed subcommand.
func (a *app) execute(ctx context.Context, cfg *config) error {
	a.setup(cfg)
	opts, err := cfg.common.ClientOptions(ctx)
	if err != nil {
		return err
	}
	prog := newProgress(a.stderr, a.tty, cfg.progressEvery, a.progressInterval)
	watch := &rpcWatch{event: prog.event}
	conn, err := dial(ctx, cfg, opts, watch)
	if err != nil {
		prog.close()
		return err
	}
	defer conn.close()
	src := conn.source
	if a.wrapSource != nil {
		src = a.wrapSource(src)
	}
	s := newSession(src, cfg, a.stderr, a.now, a.renewEvery)
	s.start(ctx)
	if cfg.command == "inspect" {
		return a.inspect(ctx, cfg, s, prog)
	}
	var pub publisher
	if !cfg.dryRun {
		pub = conn.publisher(cfg.topic)
		if a.wrapPublisher != nil {
			pub = a.wrapPublisher(pub)
		}
		defer a.stopPublisher(ctx, pub)
	}
	return a.replay(ctx, cfg, s, pub, watch, prog)
}

// stopPublisher flushes the publisher; after an interrupt it waits only
// interruptGrace, since Stop waits out the publish timeout of anything
// still retrying.
func (a *app) stopPublisher(ctx context.Context, pub publisher) {
	done := make(chan struct{})
	go func() { pub.Stop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(a.interruptGrace):
		}
	}
}

// viewOf is how m is shown in this run: with --json, the whole record.
func (a *app) viewOf(m *pubsubpb.ReceivedMessage, cfg *config) messageView {
	v := viewOf(m, cfg.excerpt)
	if cfg.json {
		v.Data = m.GetMessage().GetData()
	}
	return v
}
