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
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/asyncjobs/asyncjobs/internal/opstool"
)

func main() { opstool.Main("deadletters", run) }

// run executes one subcommand. Its third argument, standard input, is not
// read; it keeps the same testable entry point as the other operations
// commands.
func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	a := &app{stdout: stdout, stderr: stderr}
	err := a.run(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

const usageText = `Usage: deadletters inspect|replay [flags]

  inspect  pull dead letters and show them; nothing is acknowledged
  replay   republish dead letters to their original topic; a dead letter is
           acknowledged only after its publish is confirmed

Run "deadletters inspect --help" or "deadletters replay --help" for flags.`

// app runs the subcommands.
type app struct {
	stdout, stderr io.Writer
	// wrapPublisher, when set, wraps the publisher replay uses; tests inject
	// publish failures with it.
	wrapPublisher func(publisher) publisher
}

func (a *app) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(a.stderr, usageText)
		return errors.New("missing subcommand: inspect or replay")
	}
	switch args[0] {
	case "inspect", "replay":
		cfg, err := parse(ctx, args[0], args[1:], a.stderr)
		if err != nil {
			return err
		}
		return a.execute(ctx, cfg)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(a.stderr, usageText)
		return nil
	default:
		fmt.Fprintln(a.stderr, usageText)
		return fmt.Errorf("unknown subcommand %q: want inspect or replay", args[0])
	}
}

// execute connects to Pub/Sub and runs the parsed subcommand.
func (a *app) execute(ctx context.Context, cfg *config) error {
	opts, err := cfg.common.ClientOptions(ctx)
	if err != nil {
		return err
	}
	conn, err := dial(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer conn.close()
	s := newSession(conn.source, cfg, a.stderr)
	if cfg.command == "inspect" {
		return a.inspect(ctx, cfg, s)
	}
	var pub publisher
	if !cfg.dryRun {
		pub = conn.publisher(cfg.topic)
		if a.wrapPublisher != nil {
			pub = a.wrapPublisher(pub)
		}
		defer pub.Stop()
	}
	return a.replay(ctx, cfg, s, pub)
}
