package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/testenv/teststack"
)

// command is one subcommand: its usage, its flags, the checks made before
// any Pulumi command runs, and what it does.
type command struct {
	// Command names it ("teststack up"), shows its flags in the usage line
	// and says in one line (Short) what it does.
	*cli.Command
	flags func(fs *flag.FlagSet, o *options)
	// check returns what is wrong with the flags, one problem a line.
	check func(o *options) []string
	run   func(ctx context.Context, m *teststack.Manager, o *options, stdout io.Writer) error
}

// commands are the subcommands, in the order the usage text lists them.
var commands = []command{
	{
		Command: &cli.Command{
			Name:      "teststack up",
			UsageLine: "teststack up --name NAME --from TEMPLATE [--ttl 24h] [--owner NAME] [common flags]",
			Short:     "create a test stack from a template stack, or update it, and deploy it",
		},
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.name, "name", "", "test stack name, e.g. pr-123 (required)")
			fs.StringVar(&o.from, "from", "", "template stack whose Pulumi.<from>.yaml is copied, e.g. dev (required)")
			fs.DurationVar(&o.ttl, "ttl", 0, "time-to-live recorded with the stack (default 24h for a new stack; an existing one keeps its own)")
			fs.StringVar(&o.owner, "owner", "", "owner recorded with the stack (e.g. the pull request's author)")
		},
		check: checkUp,
		run:   up,
	},
	{
		Command: &cli.Command{
			Name:      "teststack destroy",
			UsageLine: "teststack destroy --name NAME [--force] [common flags]",
			Short:     "destroy a test stack's resources and remove the stack",
		},
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.name, "name", "", "test stack name (required)")
			fs.BoolVar(&o.force, "force", false, "destroy a stack that has no test record (never dev or prod)")
		},
		check: checkName,
		run:   destroy,
	},
	{
		Command: &cli.Command{
			Name:      "teststack sweep",
			UsageLine: "teststack sweep --prefix PREFIX | --name NAME [--older-than DURATION] [--dry-run] [common flags]",
			Short:     "destroy the test stacks whose TTL has passed since their last up",
		},
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.prefix, "prefix", "", "sweep the test stacks whose names start with this, e.g. pr- (or --name)")
			fs.StringVar(&o.name, "name", "", "sweep this one test stack (or --prefix)")
			fs.DurationVar(&o.olderThan, "older-than", 0,
				"limit for a test stack whose record has no TTL (default: keep it); a recorded TTL always wins, measured from the stack's last up")
			fs.BoolVar(&o.dryRun, "dry-run", false, "report what would be destroyed, destroy nothing")
		},
		check: checkSweep,
		run:   sweep,
	},
	{
		Command: &cli.Command{
			Name:      "teststack providers",
			UsageLine: "teststack providers --stack NAME [common flags]",
			Short:     "refuse a stack (any, dev and prod too; it only reads) whose state names provider plugins other than go.mod's gcp and kubernetes versions",
		},
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.name, "stack", "", "stack whose state is checked, e.g. dev (required)")
		},
		check: checkStack,
		run:   providers,
	},
}

// lookup finds the subcommand sub describes.
func lookup(sub *cli.Command) command {
	for _, c := range commands {
		if c.Command == sub {
			return c
		}
	}
	panic("teststack: no subcommand " + sub.Name)
}

// name is c's own name: "up".
func (c command) name() string { return strings.TrimPrefix(c.Name, root.Name+" ") }

func checkName(o *options) []string {
	if o.name == "" {
		return []string{"--name is required"}
	}
	if err := teststack.ValidateName(o.name, o.protected); err != nil {
		return []string{err.Error()}
	}
	return nil
}

func checkStack(o *options) []string {
	if o.name == "" {
		return []string{"--stack is required"}
	}
	if err := teststack.ValidateName(o.name, nil); err != nil {
		return []string{err.Error()}
	}
	return nil
}

func checkUp(o *options) []string {
	problems := checkName(o)
	if o.from == "" {
		problems = append(problems, "--from is required (the template stack, e.g. dev)")
	}
	if err := teststack.ValidateTTL(o.ttl); err != nil {
		problems = append(problems, err.Error())
	}
	if err := teststack.ValidateOwner(o.owner); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

func checkSweep(o *options) []string {
	var problems []string
	switch {
	case o.name != "" && o.prefix != "":
		problems = append(problems, "give --prefix or --name, not both")
	case o.name != "":
		if err := teststack.ValidateName(o.name, o.protected); err != nil {
			problems = append(problems, err.Error())
		}
	default:
		if err := teststack.ValidatePrefix(o.prefix, o.protected); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if o.olderThan < 0 {
		problems = append(problems, "--older-than must not be negative")
	}
	return problems
}

func up(ctx context.Context, m *teststack.Manager, o *options, stdout io.Writer) error {
	res, err := m.Up(ctx, teststack.UpOptions{Name: o.name, From: o.from, TTL: o.ttl, Owner: o.owner})
	if err != nil {
		return err
	}
	writeUp(stdout, res)
	return nil
}

func destroy(ctx context.Context, m *teststack.Manager, o *options, stdout io.Writer) error {
	res, err := m.Destroy(ctx, o.name, o.force)
	if err != nil {
		return err
	}
	if res.Missing {
		fmt.Fprintf(stdout, "%s: no such stack; nothing to destroy\n", o.name)
	} else {
		fmt.Fprintf(stdout, "%s: destroyed and removed\n", o.name)
	}
	return nil
}

func sweep(ctx context.Context, m *teststack.Manager, o *options, stdout io.Writer) error {
	report, err := m.Sweep(ctx, teststack.SweepOptions{Prefix: o.prefix, Name: o.name, OlderThan: o.olderThan, DryRun: o.dryRun})
	if report != nil {
		writeSweep(stdout, report, m.Now())
	}
	return err
}

func providers(ctx context.Context, m *teststack.Manager, o *options, stdout io.Writer) error {
	res, err := m.CheckStack(ctx, o.name)
	if err != nil {
		return err
	}
	if res.Missing {
		fmt.Fprintf(stdout, "%s: no such stack; nothing to check\n", o.name)
	} else {
		fmt.Fprintf(stdout, "%s: %d providers, each a pinned plugin (%s)\n", res.Name, res.Providers, m.Pins)
	}
	return nil
}
