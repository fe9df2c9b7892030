// Command upgrade prepares a stack's state, as an earlier release of
// asyncjobs deployed it, for this release's first `pulumi up`, and says
// what that up changes that `pulumi preview --diff` does not show
// (internal/command/upgrade has the rules; CHANGELOG.md says when to run it):
//
//	upgrade -stack dev                      # what the state needs (changes nothing)
//	upgrade -stack dev -yes                 # and carry out the state changes
//	upgrade -stack dev -check               # exit 1 when the state needs a change
//	upgrade -stack dev -bootstrap-stack NAME -json
//
// It runs the Pulumi CLI in the project directory (`pulumi stack export`,
// and with -yes `pulumi stack import` of the state without the resources
// it removes, after writing the state as it was to
// build/upgrade/<stack>-<time>.json, secrets encrypted), so it needs what
// `pulumi up` needs of the backend: the login and the secrets provider. It
// never changes anything in Google. The commands for the bootstrap
// (importing what moved to it) are printed, for its owner to run in
// bootstrap/.
//
// Exit status: 0 nothing to do or done, 1 failed or (-check) the state
// needs changes, 2 usage.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/upgrade"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

var command = &cli.Command{
	Name:      "upgrade",
	UsageLine: "upgrade --stack name [--yes | --check] [--bootstrap-stack name] [--json] [--dir dir] [--pulumi path]",
	Long: `Upgrade prepares a stack's state, as an earlier release of asyncjobs
deployed it, for this release's first pulumi up, and says what that up
changes that pulumi preview --diff does not show. Without --yes it changes
nothing; with --yes it writes the state as it was to
build/upgrade/<stack>-<time>.json and imports the state without the
resources it removes. It never changes anything in Google.

Exit status: 0 nothing to do or done, 1 failed or (--check) the state needs
changes, 2 usage.`,
}

func main() { cli.Main(command.Name, run) }

type options struct {
	stack, dir, pulumi, bootstrapStack string
	yes, check, json                   bool
}

func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := command.FlagSet()
	var o options
	fs.StringVar(&o.stack, "stack", "", "the stack whose state to prepare (required)")
	fs.StringVar(&o.dir, "dir", ".", "project directory (Pulumi.yaml)")
	fs.StringVar(&o.pulumi, "pulumi", "pulumi", "the Pulumi CLI")
	fs.StringVar(&o.bootstrapStack, "bootstrap-stack", "", "the bootstrap's stack, named in the commands printed for it")
	fs.BoolVar(&o.yes, "yes", false, "carry out the state changes")
	fs.BoolVar(&o.check, "check", false, "change nothing; exit 1 when the state needs changes")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	if err := command.Parse(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case o.stack == "":
		return command.UsageError(errors.New("--stack is required"))
	case o.yes && o.check:
		return command.UsageError(errors.New("--yes and --check exclude each other"))
	}

	st, err := stackOf(o)
	if err != nil {
		return err
	}
	report, err := inspect(ctx, o, st)
	if err != nil {
		return err
	}
	if err := write(stdout, o, report); err != nil {
		return err
	}
	switch {
	case o.check && report.Pending():
		return cli.WithExit(cli.ExitFailed,
			fmt.Errorf("stack %s needs the state changes above before its next up: go run ./cmd/upgrade -stack %s -yes", o.stack, o.stack))
	case !o.yes || !report.Pending():
		return nil
	}
	if err := removeFromState(ctx, o, report.State, stderr); err != nil {
		return err
	}
	after, err := inspect(ctx, o, st)
	if err != nil {
		return err
	}
	if after.Pending() {
		return fmt.Errorf("the state of %s still needs changes after them: %v", o.stack, after.State)
	}
	fmt.Fprintf(stdout, "\nThe state of %s is ready for this release's up.\n", o.stack)
	return nil
}

// removeFromState exports the stack's state, keeps a copy, and imports it
// without the removed resources.
func removeFromState(ctx context.Context, o options, removals []upgrade.Removal, stderr io.Writer) error {
	export, err := pulumi(ctx, o, "stack", "export", "--stack", o.stack)
	if err != nil {
		return err
	}
	dir := filepath.Join(o.dir, "build", "upgrade")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	backup := filepath.Join(dir, fmt.Sprintf("%s-%s.json", o.stack, time.Now().UTC().Format("20060102T150405Z")))
	if err := os.WriteFile(backup, export, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "upgrade: the state of %s as it was: %s (pulumi stack import --stack %s --file %s restores it)\n", o.stack, backup, o.stack, backup)
	urns := make([]string, len(removals))
	for i, r := range removals {
		urns[i] = r.URN
		fmt.Fprintf(stderr, "upgrade: removing %s from the state of %s\n", r.URN, o.stack)
	}
	next, err := upgrade.Remove(export, urns)
	if err != nil {
		return err
	}
	file := filepath.Join(dir, o.stack+"-upgraded.json")
	if err := os.WriteFile(file, next, 0o600); err != nil {
		return err
	}
	defer os.Remove(file)
	_, err = pulumi(ctx, o, "stack", "import", "--stack", o.stack, "--file", file)
	return err
}

// pulumi runs the CLI in the project directory and returns its stdout.
func pulumi(ctx context.Context, o options, args ...string) ([]byte, error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, o.pulumi, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = o.dir, &out, &errOut
	// Never a plugin the stack's state names: only those installed.
	cmd.Env = append(os.Environ(), "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true")
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pulumi %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), nil
}

// stackOf reads what the stack file says; a stack without one (a test
// stack made elsewhere) has no deployers to compare.
func stackOf(o options) (upgrade.Stack, error) {
	st := upgrade.Stack{Name: o.stack}
	f, err := stackfile.Load(o.dir, o.stack)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	cfg, err := stacks.Load(o.stack, stacks.Source(f.Config))
	if err != nil {
		return st, fmt.Errorf("stack file Pulumi.%s.yaml: %w", o.stack, err)
	}
	st.Deployers, st.DeployersKnown, st.Protect = cfg.Deployers, true, cfg.Protect
	return st, nil
}

// inspect exports the stack's state and reads it.
func inspect(ctx context.Context, o options, st upgrade.Stack) (upgrade.Report, error) {
	// The kubeconfig is read, in memory only, to see whether it parses.
	out, err := pulumi(ctx, o, "stack", "export", "--stack", o.stack, "--show-secrets")
	if err != nil {
		return upgrade.Report{}, err
	}
	resources, err := upgrade.ParseExport(out)
	if err != nil {
		return upgrade.Report{}, err
	}
	return upgrade.Inspect(st, resources, o.bootstrapStack)
}

// write prints the report.
func write(w io.Writer, o options, r upgrade.Report) error {
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	if !r.Pending() && len(r.Bootstrap) == 0 && len(r.Deletes) == 0 && len(r.Notices) == 0 {
		_, err := fmt.Fprintf(w, "The state of %s needs nothing before this release's up.\n", r.Stack)
		return err
	}
	var b strings.Builder
	if r.Pending() {
		verb := "Run with -yes to make"
		if o.yes {
			verb = "Making"
		}
		fmt.Fprintf(&b, "%s these changes to the state of %s (nothing in Google changes):\n", verb, r.Stack)
		for _, s := range r.State {
			fmt.Fprintf(&b, "  remove %s\n      %s\n", s.URN, s.Why)
		}
	}
	if len(r.Bootstrap) > 0 {
		fmt.Fprintf(&b, "\nIn bootstrap/, as the bootstrap's owner, before its next up:\n")
		for _, s := range r.Bootstrap {
			fmt.Fprintf(&b, "  %s\n      %s\n", s, s.Why)
		}
	}
	if len(r.Deletes)+len(r.Notices) > 0 {
		fmt.Fprintf(&b, "\nThe next up of %s also:\n", r.Stack)
		for _, d := range r.Deletes {
			fmt.Fprintf(&b, "  - deletes %s: %s\n", d.URN, d.Why)
		}
		for _, n := range r.Notices {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
