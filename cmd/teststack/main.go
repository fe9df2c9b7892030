// Command teststack creates, updates, destroys and sweeps short-lived test
// stacks of the asyncjobs program with the Pulumi Automation API:
//
//	teststack up        --name pr-123 --from dev [--ttl 24h] [--owner NAME]
//	teststack destroy   --name pr-123 [--force]
//	teststack sweep     --prefix pr- | --name pr-123 [--older-than 24h] [--dry-run]
//	teststack providers --stack dev
//
// A test stack gets the template stack's configuration (Pulumi.<from>.yaml)
// with asyncjobs:protect=false and a fresh asyncjobs:nameSuffix when it is
// created (kept on updates), and a record of its creation time, last up,
// TTL and owner (stack tags, and teststack: configuration keys as a
// fallback). The sweep destroys a test stack when its own TTL has passed
// since its last up. dev and prod, and any stack without that record, are
// never touched.
//
// Plugins: every Pulumi command runs with
// PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true, and a stack whose state
// names a provider plugin other than the pinned ones (the versions go.mod
// requires of the gcp and kubernetes SDKs; no download URL) is refused
// before it is updated or destroyed: a branch pull request can write a
// test stack's state, and the sweep runs on main. providers checks any
// stack that way (the deploy workflow runs it on dev and prod before
// pulumi up); it only reads.
//
// It runs the program in the project directory, so it needs the Pulumi CLI
// on PATH with its Go language host, the backend login (PULUMI_BACKEND_URL
// or PULUMI_ACCESS_TOKEN) and cloud credentials, as `pulumi up` does.
// Progress goes to stderr, results to stdout.
//
// Exit status: 0 done, 1 failed, 2 usage (refused before any Pulumi
// command ran).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/testenv/teststack"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// exitStatus ends every -h text of teststack.
const exitStatus = "Exit status: 0 done, 1 failed, 2 usage (refused before any Pulumi command ran)."

// root is teststack; its subcommands are commands'.
var root = &cli.Command{
	Name: "teststack",
	Long: `Teststack creates, updates, destroys and sweeps short-lived test stacks of
the asyncjobs program with the Pulumi Automation API. It needs the Pulumi
CLI on PATH, the backend login and cloud credentials, as pulumi up does.
Progress goes to stderr, results to stdout.

Common flags: --dir DIR (project directory, default .), --protected NAMES
(besides dev, prod), --secrets-provider URL (new stacks; default
$PULUMI_SECRETS_PROVIDER), --no-tags, --go-mod FILE (the provider pins;
default DIR/go.mod).

` + exitStatus,
	Commands: subcommands(),
}

// subcommands are commands' descriptions, each with its -h text.
func subcommands() []*cli.Command {
	subs := make([]*cli.Command, len(commands))
	for i, c := range commands {
		c.Long = strings.ToUpper(c.Short[:1]) + c.Short[1:] + ".\n\n" + exitStatus
		subs[i] = c.Command
	}
	return subs
}

func main() { cli.Main(root.Name, run) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return (&app{}).run(ctx, args, stdin, stdout, stderr)
}

// app runs the subcommands.
type app struct {
	// env is added to the environment of every Pulumi command; tests point
	// it at a file backend.
	env map[string]string
}

// options are the flags of one run: the common ones, and those its
// subcommand registers.
type options struct {
	dir             string
	protectedNames  string
	secretsProvider string
	noTags          bool
	goMod           string

	name, from, owner, prefix string
	ttl, olderThan            time.Duration
	force, dryRun             bool

	// protected is dev, prod and --protected.
	protected []string
}

func (o *options) registerCommon(fs *flag.FlagSet) {
	fs.StringVar(&o.dir, "dir", ".", "project directory (Pulumi.yaml and the template stack files)")
	fs.StringVar(&o.protectedNames, "protected", "", "more comma-separated stack names teststack never touches (dev and prod always are)")
	fs.StringVar(&o.secretsProvider, "secrets-provider", os.Getenv("PULUMI_SECRETS_PROVIDER"),
		"secrets provider of new stacks, e.g. gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K")
	fs.BoolVar(&o.noTags, "no-tags", false, "keep the test record in configuration only (backends without stack tags)")
	fs.StringVar(&o.goMod, "go-mod", "", "go.mod whose gcp and kubernetes SDK versions pin the provider plugins a state may name (default: go.mod in --dir)")
}

// run picks the subcommand, parses and checks its flags and runs it. -h
// prints the usage on stdout.
func (a *app) run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	sub, rest, err := root.Sub(args, stdout)
	if err != nil {
		return err
	}
	c := lookup(sub)
	o, err := c.parse(rest, stdout)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return c.UsageError(err)
	}
	if o.goMod == "" {
		o.goMod = filepath.Join(dir, "go.mod")
	}
	pins, err := teststack.PinsFromGoMod(o.goMod)
	if err != nil {
		return fmt.Errorf("%s: %w (pass --go-mod)", c.name(), err)
	}
	if err := c.run(ctx, a.manager(dir, o, pins, stderr), o, stdout); err != nil {
		return fmt.Errorf("%s: %w", c.name(), err)
	}
	return nil
}

// parse reads and checks c's flags. After -h it returns flag.ErrHelp; a
// command line it refuses is a usage error naming every problem.
func (c command) parse(args []string, stdout io.Writer) (*options, error) {
	fs := c.FlagSet()
	o := &options{}
	o.registerCommon(fs)
	c.flags(fs, o)
	if err := c.Parse(fs, args, stdout); err != nil {
		return nil, err
	}
	o.protected = append([]string{"dev", "prod"}, cli.SplitList(o.protectedNames)...)
	if problems := c.check(o); len(problems) > 0 {
		return nil, c.UsageError(fmt.Errorf("%s: %s", c.name(), strings.Join(problems, "; ")))
	}
	return o, nil
}

// manager wires the lifecycle to this project: the program in dir, its
// suffix key and test overrides, the offline configuration check, and the
// provider pins every state is checked against.
func (a *app) manager(dir string, o *options, pins teststack.Pins, log io.Writer) *teststack.Manager {
	// The engine never downloads a plugin, whatever a state names.
	env := map[string]string{"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}
	for k, v := range a.env {
		env[k] = v
	}
	env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
	opts := []auto.LocalWorkspaceOption{auto.EnvVars(env)}
	if o.secretsProvider != "" {
		opts = append(opts, auto.SecretsProvider(o.secretsProvider))
	}
	return &teststack.Manager{
		Source:    teststack.LocalSource{ProjectDir: dir, Options: opts},
		SuffixKey: stacks.SuffixKey,
		Overrides: stacks.TestStackOverrides(),
		Protected: o.protected,
		NoTags:    o.noTags,
		Validate:  validator(dir),
		Now:       time.Now,
		Log:       log,
		Pins:      pins,
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
		_, err = stacks.Load(st.Name, stacks.Source(st.Config))
		return err
	}
}
