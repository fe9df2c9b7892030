// Command teststack creates, updates, destroys and sweeps short-lived test
// stacks of the asyncjobs program with the Pulumi Automation API:
//
//	teststack up      --name pr-123 --from dev [--ttl 24h] [--owner NAME]
//	teststack destroy --name pr-123 [--force]
//	teststack sweep   --prefix pr- | --name pr-123 [--older-than 24h] [--dry-run]
//
// A test stack gets the template stack's configuration (Pulumi.<from>.yaml)
// with asyncjobs:protect=false and a fresh asyncjobs:nameSuffix when it is
// created (kept on updates), and a record of its creation time, last up,
// TTL and owner (stack tags, and teststack: configuration keys as a
// fallback). The sweep destroys a test stack when its own TTL has passed
// since its last up. dev and prod, and any stack without that record, are
// never touched.
//
// It runs the program in the project directory, so it needs the Pulumi CLI
// on PATH with its Go language host, the backend login (PULUMI_BACKEND_URL
// or PULUMI_ACCESS_TOKEN) and cloud credentials, as `pulumi up` does.
// Progress goes to stderr, results to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/asyncjobs/asyncjobs/internal/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/teststack"
	"github.com/asyncjobs/asyncjobs/stacks"
)

const usage = `usage:
  teststack up      --name NAME --from TEMPLATE [--ttl 24h] [--owner NAME]
  teststack destroy --name NAME [--force]
  teststack sweep   --prefix PREFIX | --name NAME [--older-than DURATION] [--dry-run]

common flags: --dir DIR (project directory, default .), --protected NAMES (besides dev, prod),
  --secrets-provider URL (new stacks; default $PULUMI_SECRETS_PROVIDER), --no-tags
`

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// common holds the flags every subcommand takes.
type common struct {
	dir             string
	protected       string
	secretsProvider string
	noTags          bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "dir", ".", "project directory (Pulumi.yaml and the template stack files)")
	fs.StringVar(&c.protected, "protected", "", "more comma-separated stack names teststack never touches (dev and prod always are)")
	fs.StringVar(&c.secretsProvider, "secrets-provider", os.Getenv("PULUMI_SECRETS_PROVIDER"), "secrets provider of new stacks, e.g. gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K")
	fs.BoolVar(&c.noTags, "no-tags", false, "keep the test record in configuration only (backends without stack tags)")
}

// run is main with its environment injected; extraEnv is added to the
// environment of every Pulumi command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, extraEnv map[string]string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("teststack "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	var (
		name, from, owner, prefix string
		ttl, olderThan            time.Duration
		force, dryRun             bool
	)
	switch sub {
	case "up":
		fs.StringVar(&name, "name", "", "test stack name, e.g. pr-123 (required)")
		fs.StringVar(&from, "from", "", "template stack whose Pulumi.<from>.yaml is copied, e.g. dev (required)")
		fs.DurationVar(&ttl, "ttl", 0, "time-to-live recorded with the stack (default 24h for a new stack; an existing one keeps its own)")
		fs.StringVar(&owner, "owner", "", "owner recorded with the stack (e.g. the pull request's author)")
	case "destroy":
		fs.StringVar(&name, "name", "", "test stack name (required)")
		fs.BoolVar(&force, "force", false, "destroy a stack that has no test record (never dev or prod)")
	case "sweep":
		fs.StringVar(&prefix, "prefix", "", "sweep the test stacks whose names start with this, e.g. pr- (or --name)")
		fs.StringVar(&name, "name", "", "sweep this one test stack (or --prefix)")
		fs.DurationVar(&olderThan, "older-than", 0, "limit for a test stack whose record has no TTL (default: keep it); a recorded TTL always wins, measured from the stack's last up")
		fs.BoolVar(&dryRun, "dry-run", false, "report what would be destroyed, destroy nothing")
	default:
		fmt.Fprintf(stderr, "teststack: unknown command %q\n%s", sub, usage)
		return exitUsage
	}
	fs.Usage = func() { printUsage(stderr, fs, sub) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "teststack %s: unexpected arguments %q\n", sub, fs.Args())
		return exitUsage
	}
	protected := append([]string{"dev", "prod"}, splitList(c.protected)...)
	var problems []string
	switch sub {
	case "up":
		if name == "" {
			problems = append(problems, "--name is required")
		} else if err := teststack.ValidateName(name, protected); err != nil {
			problems = append(problems, err.Error())
		}
		if from == "" {
			problems = append(problems, "--from is required (the template stack, e.g. dev)")
		}
		if err := teststack.ValidateTTL(ttl); err != nil {
			problems = append(problems, err.Error())
		}
		if err := teststack.ValidateOwner(owner); err != nil {
			problems = append(problems, err.Error())
		}
	case "destroy":
		if name == "" {
			problems = append(problems, "--name is required")
		} else if err := teststack.ValidateName(name, protected); err != nil {
			problems = append(problems, err.Error())
		}
	case "sweep":
		switch {
		case name != "" && prefix != "":
			problems = append(problems, "give --prefix or --name, not both")
		case name != "":
			if err := teststack.ValidateName(name, protected); err != nil {
				problems = append(problems, err.Error())
			}
		default:
			if err := teststack.ValidatePrefix(prefix, protected); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if olderThan < 0 {
			problems = append(problems, "--older-than must not be negative")
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "teststack %s: %s\n", sub, p)
		}
		return exitUsage
	}

	dir, err := filepath.Abs(c.dir)
	if err != nil {
		fmt.Fprintf(stderr, "teststack: %v\n", err)
		return exitUsage
	}
	m := newManager(dir, c, protected, stderr, extraEnv)

	switch sub {
	case "up":
		res, err := m.Up(ctx, teststack.UpOptions{Name: name, From: from, TTL: ttl, Owner: owner})
		if err != nil {
			fmt.Fprintf(stderr, "teststack up: %v\n", err)
			return exitFail
		}
		writeUp(stdout, res)
	case "destroy":
		res, err := m.Destroy(ctx, name, force)
		if err != nil {
			fmt.Fprintf(stderr, "teststack destroy: %v\n", err)
			return exitFail
		}
		if res.Missing {
			fmt.Fprintf(stdout, "%s: no such stack; nothing to destroy\n", name)
		} else {
			fmt.Fprintf(stdout, "%s: destroyed and removed\n", name)
		}
	case "sweep":
		report, err := m.Sweep(ctx, teststack.SweepOptions{Prefix: prefix, Name: name, OlderThan: olderThan, DryRun: dryRun})
		if report != nil {
			writeSweep(stdout, report, m.Now())
		}
		if err != nil {
			fmt.Fprintf(stderr, "teststack sweep: %v\n", err)
			return exitFail
		}
	}
	return exitOK
}

// newManager wires the lifecycle to this project: the program in dir, its
// suffix key and test overrides, and the offline configuration check.
func newManager(dir string, c common, protected []string, log io.Writer, extraEnv map[string]string) *teststack.Manager {
	var opts []auto.LocalWorkspaceOption
	if len(extraEnv) > 0 {
		opts = append(opts, auto.EnvVars(extraEnv))
	}
	if c.secretsProvider != "" {
		opts = append(opts, auto.SecretsProvider(c.secretsProvider))
	}
	return &teststack.Manager{
		Source:    teststack.LocalSource{ProjectDir: dir, Options: opts},
		SuffixKey: stacks.SuffixKey,
		Overrides: stacks.TestStackOverrides(),
		Protected: protected,
		NoTags:    c.noTags,
		Validate:  validator(dir),
		Now:       time.Now,
		Log:       log,
	}
}

// validator checks a test stack's configuration the way `make plan` does:
// the project's declared types and defaults, then the program's own strict
// decoding and validation. It works on a scratch copy, so a rejected
// configuration leaves no file behind.
func validator(dir string) func(context.Context, string, *workspace.ProjectStack) error {
	return func(_ context.Context, stack string, ps *workspace.ProjectStack) error {
		tmp, err := os.MkdirTemp("", "teststack-validate-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		project, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "Pulumi.yaml"), project, 0o644); err != nil {
			return err
		}
		if err := ps.Save(filepath.Join(tmp, "Pulumi."+stack+".yaml")); err != nil {
			return err
		}
		st, err := stackfile.Load(tmp, stack)
		if err != nil {
			return err
		}
		_, err = stacks.Load(stacks.Source(st.Config))
		return err
	}
}

func writeUp(w io.Writer, res *teststack.UpResult) {
	verb := "updated"
	if res.Created {
		verb = "created"
	}
	fmt.Fprintf(w, "%s: %s (name suffix %s, created %s, ttl %s", res.Name, verb, res.Meta.Suffix, res.Meta.Created.Format(time.RFC3339), res.Meta.TTL)
	if res.Meta.Owner != "" {
		fmt.Fprintf(w, ", owner %s", res.Meta.Owner)
	}
	fmt.Fprintln(w, ")")
	keys := slices.Sorted(maps.Keys(res.Outputs))
	for _, k := range keys {
		v := res.Outputs[k]
		if v.Secret {
			fmt.Fprintf(w, "  %s: [secret]\n", k)
			continue
		}
		fmt.Fprintf(w, "  %s: %v\n", k, v.Value)
	}
}

func writeSweep(w io.Writer, r *teststack.SweepReport, now time.Time) {
	mode := ""
	if r.DryRun {
		mode = " (dry run)"
	}
	what, where := fmt.Sprintf("prefix %q", r.Prefix), "under the prefix"
	if r.Name != "" {
		what, where = fmt.Sprintf("stack %q", r.Name), "by that name"
	}
	fmt.Fprintf(w, "sweep of %s at %s%s: %s %s, %d outside it (untouched)\n",
		what, now.UTC().Format(time.RFC3339), mode, stacksCount(len(r.Outcomes)), where, r.Outside)
	if len(r.Outcomes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// IDLE: the time since the stack's last up; LIMIT: its TTL.
	fmt.Fprintln(tw, "STACK\tRESULT\tIDLE\tLIMIT\tOWNER\tDETAIL")
	for _, o := range r.Outcomes {
		age, limit, owner := "-", "-", "-"
		if o.Meta != nil {
			age, limit = duration(o.Age), duration(o.Limit)
			if o.Meta.Owner != "" {
				owner = o.Meta.Owner
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Stack, o.Result, age, limit, owner, oneLine(o.Detail))
	}
	tw.Flush()
	for _, o := range r.Failed() {
		fmt.Fprintf(w, "\n%s failed:\n%v\n", o.Stack, o.Err)
	}
}

// stacksCount is "1 stack" or "n stacks".
func stacksCount(n int) string {
	if n == 1 {
		return "1 stack"
	}
	return fmt.Sprintf("%d stacks", n)
}

// printUsage prints a subcommand's flags with double dashes, as the other
// operations commands do.
func printUsage(w io.Writer, fs *flag.FlagSet, sub string) {
	fmt.Fprintf(w, "usage: teststack %s [flags]\n\nflags:\n", sub)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintln(w, "\nexit status: 0 done, 1 failed, 2 usage")
}

// duration renders an age as hours and minutes.
func duration(d time.Duration) string {
	if d < 0 {
		return "-" + duration(-d)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
