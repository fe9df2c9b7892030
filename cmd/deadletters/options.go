package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
)

// maxPullBatch is the most messages one Pull may ask for.
const maxPullBatch = 1000

// config is one checked subcommand invocation.
type config struct {
	command string
	common  opstool.Common

	pair                   string
	deadLetterSubscription string
	topic                  string
	sourceSubscription     string // the subscription the dead letters came from, when known
	deadLetterTopic        string // when known, to refuse replaying into it

	max           int
	batch         int
	wait          time.Duration
	json          bool
	excerpt       int
	progressEvery int
	width         int

	publishTimeout time.Duration

	// replay only
	dryRun  bool
	filters opstool.KeyValues
	rate    float64
}

var inspectCmd = &cli.Command{
	Name:      "deadletters inspect",
	UsageLine: "deadletters inspect [--stack name | --outputs file] [--pair topic/subscription] [flags]",
	Short:     "pull dead letters and show them; nothing is acknowledged",
	Long: `Pulls messages from the dead-letter subscription and shows each one (ID,
publish time, delivery attempt, size, ordering key, attributes and an excerpt
of the data) as a table or, with --json, as JSON lines (the whole record,
data included). Nothing is acknowledged: every message pulled is handed back
when the run ends. When it stops at --max it says how many more are waiting.

` + opstool.ExitStatusHelp,
	Hidden: opstool.HiddenFlags,
}

var replayCmd = &cli.Command{
	Name:      "deadletters replay",
	UsageLine: "deadletters replay [--stack name | --outputs file] [--pair topic/subscription] [--dry-run] [flags]",
	Short:     "republish dead letters to their original topic; a dead letter is acknowledged only after its publish is confirmed",
	Long: `Pulls messages from the dead-letter subscription and republishes each one to
the original topic with its data, attributes and ordering key, plus the
attribute ` + replayedFromAttr + ` (the dead letter's message ID). A dead
letter is acknowledged only after its publish is confirmed; failed and
skipped messages are handed back to the dead-letter subscription. The run
holds the messages it has seen (renewing their ack deadline) until it ends,
and keeps pulling until the backlog is exhausted. Rows show the essentials;
--json prints the whole record. Ctrl-C stops promptly and hands unfinished
messages back; a second Ctrl-C exits at once.

` + opstool.ExitStatusHelp,
	Hidden: opstool.HiddenFlags,
}

// parse reads and checks the flags of sub (inspectCmd or replayCmd). -h
// prints its usage on stdout and returns flag.ErrHelp.
func parse(ctx context.Context, sub *cli.Command, args []string, stdout io.Writer) (*config, error) {
	cfg := &config{command: strings.TrimPrefix(sub.Name, "deadletters ")}
	fs := sub.FlagSet()
	cfg.common.Register(fs)
	fs.StringVar(&cfg.pair, "pair", "", "`topic/subscription`: a key of deadLetters in the stack outputs; required only when there are several")
	fs.StringVar(&cfg.deadLetterSubscription, "dead-letter-subscription", "",
		"full dead-letter subscription `name` projects/P/subscriptions/S (overrides the outputs)")
	if cfg.command == "inspect" {
		fs.IntVar(&cfg.max, "max", 100, "show at most this many messages (0: all); the rest are counted, not shown")
	} else {
		fs.IntVar(&cfg.max, "max", 0, "publish at most this many messages (replayed or failed; 0: no limit). "+
			"Skipped messages do not count: --filter-attribute kind=email --max 10 replays up to 10 emails")
	}
	fs.IntVar(&cfg.batch, "batch", 100, "messages per pull (1 to 1000)")
	fs.DurationVar(&cfg.wait, "wait", 5*time.Second, "how long one pull waits for messages; a pull that returns none ends the run")
	fs.BoolVar(&cfg.json, "json", false, "print JSON lines instead of a table")
	fs.IntVar(&cfg.excerpt, "excerpt", 60, "characters of data shown (hex: half as many bytes)")
	fs.IntVar(&cfg.progressEvery, "progress-every", 100, "when stderr is not a terminal, report progress every this many messages, "+
		"and at least every 10s (0: only by time); on a terminal a status line shows counts and rate")
	fs.IntVar(&cfg.width, "width", 0, "table width in characters (default: the terminal's width, or 120)")
	if cfg.command == "replay" {
		fs.StringVar(&cfg.topic, "topic", "", "full `topic` name to republish to, projects/P/topics/T (overrides the outputs)")
		fs.StringVar(&cfg.sourceSubscription, "subscription", "", "full `name` of the subscription the dead letters came from (overrides the outputs); "+
			"dead letters that Pub/Sub marked as coming from another subscription are skipped")
		fs.BoolVar(&cfg.dryRun, "dry-run", false, "show what would be replayed; publish nothing and hand every message back")
		fs.Var(&cfg.filters, "filter-attribute",
			"replay only messages whose attribute `key=value` matches (repeatable: all must match); others are skipped and handed back")
		fs.Float64Var(&cfg.rate, "rate", 0, "publish at most this many messages per second (0: no limit)")
		fs.DurationVar(&cfg.publishTimeout, "publish-timeout", 60*time.Second,
			"how long one publish is retried on transient errors (such as UNAVAILABLE) before it counts as failed")
	}
	if err := sub.Parse(fs, args, stdout); err != nil {
		return nil, err
	}
	if errs := cfg.common.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := cfg.resolve(ctx); err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// resolve fills the resource names from the stack outputs, keeping the ones
// given explicitly.
func (c *config) resolve(ctx context.Context) error {
	outs, err := c.common.LoadOutputs(ctx)
	if err != nil {
		return err
	}
	if outs == nil {
		if c.pair != "" {
			return fmt.Errorf("--pair=%q needs the stack outputs: add --outputs FILE or --stack NAME, or give --dead-letter-subscription", c.pair)
		}
		return nil
	}
	if c.deadLetterSubscription != "" && (c.command == "inspect" || c.topic != "") && c.pair == "" {
		return nil // every name is explicit; the outputs are not needed
	}
	_, dl, err := outs.DeadLetter(c.pair)
	if err != nil {
		return err
	}
	if c.deadLetterSubscription == "" {
		c.deadLetterSubscription = dl.DeadLetterSubscription
	}
	if c.topic == "" {
		c.topic = dl.Topic
	}
	if c.sourceSubscription == "" {
		c.sourceSubscription = dl.Subscription
	}
	c.deadLetterTopic = dl.DeadLetterTopic
	return nil
}

func (c *config) check() error {
	var errs []error
	if c.deadLetterSubscription == "" {
		errs = append(errs, errors.New("no dead-letter subscription: give --outputs FILE or --stack NAME "+
			"(with --pair TOPIC/SUBSCRIPTION when there are several), or --dead-letter-subscription"))
	} else if err := opstool.CheckSubscriptionPath(c.deadLetterSubscription); err != nil {
		errs = append(errs, fmt.Errorf("--dead-letter-subscription: %w", err))
	}
	if c.command == "replay" {
		switch {
		case c.topic == "":
			errs = append(errs, errors.New("no topic to replay to: give --outputs FILE or --stack NAME, or --topic"))
		case opstool.CheckTopicPath(c.topic) != nil:
			errs = append(errs, fmt.Errorf("--topic: %w", opstool.CheckTopicPath(c.topic)))
		case c.topic == c.deadLetterTopic:
			errs = append(errs, fmt.Errorf("--topic=%q is the dead-letter topic: replaying into it would loop", c.topic))
		}
		if c.sourceSubscription != "" {
			if err := opstool.CheckSubscriptionPath(c.sourceSubscription); err != nil {
				errs = append(errs, fmt.Errorf("--subscription: %w", err))
			}
			if c.sourceSubscription == c.deadLetterSubscription {
				errs = append(errs, fmt.Errorf("--subscription=%q is the dead-letter subscription itself", c.sourceSubscription))
			}
		}
		if c.rate < 0 {
			errs = append(errs, fmt.Errorf("--rate=%g: must be 0 (no limit) or positive", c.rate))
		}
	}
	if c.max < 0 {
		errs = append(errs, fmt.Errorf("--max=%d: must be 0 (all) or positive", c.max))
	}
	if c.batch < 1 || c.batch > maxPullBatch {
		errs = append(errs, fmt.Errorf("--batch=%d: must be between 1 and %d", c.batch, maxPullBatch))
	}
	if c.wait <= 0 {
		errs = append(errs, fmt.Errorf("--wait=%s: must be positive", c.wait))
	}
	if c.excerpt < 8 {
		errs = append(errs, fmt.Errorf("--excerpt=%d: must be at least 8", c.excerpt))
	}
	if c.command == "replay" && c.publishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--publish-timeout=%s: must be positive", c.publishTimeout))
	}
	if c.width != 0 && c.width < 40 {
		errs = append(errs, fmt.Errorf("--width=%d: must be at least 40", c.width))
	}
	if c.progressEvery < 0 {
		errs = append(errs, fmt.Errorf("--progress-every=%d: must be 0 or positive", c.progressEvery))
	}
	return errors.Join(errs...)
}
