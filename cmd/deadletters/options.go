package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/opstool"
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

	// replay only
	dryRun  bool
	filters opstool.KeyValues
	rate    float64
}

const inspectUsage = `Usage: deadletters inspect [flags]

Pulls messages from the dead-letter subscription and shows each one (ID,
publish time, delivery attempt, size, ordering key, attributes and an excerpt
of the data) as a table or, with --json, as JSON lines. Nothing is
acknowledged: every message pulled is handed back when the run ends.`

const replayUsage = `Usage: deadletters replay [flags]

Pulls messages from the dead-letter subscription and republishes each one to
the original topic with its data, attributes and ordering key, plus the
attribute ` + replayedFromAttr + ` (the dead letter's message ID). A dead
letter is acknowledged only after its publish is confirmed; failed and
skipped messages are handed back to the dead-letter subscription. Exits
non-zero when any message failed.`

func parse(ctx context.Context, command string, args []string, stderr io.Writer) (*config, error) {
	cfg := &config{command: command}
	fs := flag.NewFlagSet("deadletters "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.common.Register(fs)
	fs.StringVar(&cfg.pair, "pair", "", "`topic/subscription`: a key of deadLetters in the stack outputs; required only when there are several")
	fs.StringVar(&cfg.deadLetterSubscription, "dead-letter-subscription", "", "full dead-letter subscription `name` projects/P/subscriptions/S (overrides the outputs)")
	defaultMax := 0
	if command == "inspect" {
		defaultMax = 100
	}
	fs.IntVar(&cfg.max, "max", defaultMax, "handle at most this many messages (0: all)")
	fs.IntVar(&cfg.batch, "batch", 100, "messages per pull (1 to 1000)")
	fs.DurationVar(&cfg.wait, "wait", 5*time.Second, "how long one pull waits for messages; a pull that returns none ends the run")
	fs.BoolVar(&cfg.json, "json", false, "print JSON lines instead of a table")
	fs.IntVar(&cfg.excerpt, "excerpt", 60, "characters of data shown (hex: half as many bytes)")
	fs.IntVar(&cfg.progressEvery, "progress-every", 100, "report progress on stderr every this many messages, and at least every 10s (0: only by time)")
	usage := inspectUsage
	if command == "replay" {
		usage = replayUsage
		fs.StringVar(&cfg.topic, "topic", "", "full `topic` name to republish to, projects/P/topics/T (overrides the outputs)")
		fs.StringVar(&cfg.sourceSubscription, "subscription", "", "full `name` of the subscription the dead letters came from (overrides the outputs); dead letters that Pub/Sub marked as coming from another subscription are skipped")
		fs.BoolVar(&cfg.dryRun, "dry-run", false, "show what would be replayed; publish nothing and hand every message back")
		fs.Var(&cfg.filters, "filter-attribute", "replay only messages whose attribute `key=value` matches (repeatable: all must match); others are skipped and handed back")
		fs.Float64Var(&cfg.rate, "rate", 0, "publish at most this many messages per second (0: no limit)")
	}
	fs.Usage = func() { opstool.PrintUsage(stderr, fs, usage) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every input is a flag (see deadletters %s --help)", fs.Arg(0), command)
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
		errs = append(errs, errors.New("no dead-letter subscription: give --outputs FILE or --stack NAME (with --pair TOPIC/SUBSCRIPTION when there are several), or --dead-letter-subscription"))
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
	if c.progressEvery < 0 {
		errs = append(errs, fmt.Errorf("--progress-every=%d: must be 0 or positive", c.progressEvery))
	}
	return errors.Join(errs...)
}
