// Command policy checks a stack against the asyncjobs rules, offline: the
// Rego rules in policy/ (the same files the Pulumi policy pack runs) over a
// recorded plan, and kube-score over the Kubernetes manifests the stack
// renders. It prints the violations, errors first, and exits 1 when there
// is any error-level violation (warnings do not fail), 2 when it cannot
// check at all (a refused command line included, as for every command).
//
//	go run ./cmd/policy                              # build/dev/plan.json (make plan writes it)
//	go run ./cmd/policy --plan build/prod/plan.json
//	go run ./cmd/policy --plan build/dev/plan.json --plan build/prod/plan.json
//	go run ./cmd/policy --stack-file Pulumi.prod.yaml # records the stack in-process first
//	go run ./cmd/policy --list                       # the rules
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/plan/manifests"
	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackplan"
)

// Exit codes, as grep(1) has them: 1 is the check's answer, 2 that there
// is none; a refused command line is cli.ExitUsage, the same 2.
const (
	exitOK         = cli.ExitOK
	exitViolations = 1
	exitFailure    = cli.ExitUsage
)

var command = &cli.Command{
	Name:      "policy",
	UsageLine: "policy [--plan file]... [--stack-file file]... [--production] [--json] [--list | --list-kube-score] [flags]",
	Long: `Policy checks a stack against the asyncjobs rules, offline: the Rego rules
in policy/ over a recorded plan (default ` + defaultPlan + `, as make plan
writes it), and kube-score over the Kubernetes manifests the stack renders.
It prints the violations, errors first.

Exit status: 0 no error-level violation (warnings do not fail), 1 an
error-level violation, 2 usage, or it cannot check at all.`,
}

func main() { cli.Main(command.Name, run) }

// files is a repeatable file flag.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

// defaultPlan is what make plan writes for the dev stack.
const defaultPlan = "build/dev/plan.json"

type options struct {
	plans      files
	stackFiles files
	manifests  string
	rules      string
	exceptions string
	production bool
	json       bool
	list       bool
	listKS     bool
}

func run(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	var o options
	fs := command.FlagSet()
	fs.Var(&o.plans, "plan", "plan to check, as written by make plan (repeatable; default "+defaultPlan+" when no -stack-file is given)")
	fs.Var(&o.stackFiles, "stack-file", "record this Pulumi.<stack>.yaml in preview mode and check it (repeatable)")
	fs.StringVar(&o.manifests, "manifests", "", "rendered Kubernetes manifests to score with kube-score "+
		"(default: manifests/ next to each plan, as make plan writes them; for a stack file, its recording rendered the same way); "+
		"skipped when it holds none")
	fs.StringVar(&o.rules, "rules", "", "policy directory (default: policy/ of this repository)")
	fs.StringVar(&o.exceptions, "kube-score-exceptions", "", "accepted kube-score findings (default: <rules>/kube-score-exceptions.yaml)")
	fs.BoolVar(&o.production, "production", false,
		"apply the production rules whatever the plan says (a stack named prod or labelled environment=prod is production anyway)")
	fs.BoolVar(&o.json, "json", false, "print the violations as JSON")
	fs.BoolVar(&o.list, "list", false, "list the rules and exit")
	fs.BoolVar(&o.listKS, "list-kube-score", false, "list the kube-score checks that run and exit")
	if err := command.Parse(fs, args, stdout); err != nil {
		return err
	}
	code, err := check(ctx, o, stdout)
	if err != nil {
		return cli.WithExit(exitFailure, err)
	}
	if code != exitOK {
		return cli.Exit(code) // the report says why
	}
	return nil
}

// target is one plan to check and where its manifests are.
type target struct {
	label     string
	plan      *recorder.Plan
	manifests string
}

type report struct {
	Stack      string             `json:"stack"`
	Source     string             `json:"source"`
	Production []string           `json:"production"`
	Manifests  string             `json:"manifests"`
	Scored     []string           `json:"manifestFiles"`
	Violations []policy.Violation `json:"violations"`
	Accepted   []policy.Violation `json:"acceptedKubeScoreFindings"`
}

func check(ctx context.Context, o options, stdout io.Writer) (int, error) {
	rulesDir := o.rules
	if rulesDir == "" {
		dir, err := policy.FindDir(".")
		if err != nil {
			return exitFailure, err
		}
		rulesDir = dir
	}
	engine, err := policy.Load(rulesDir)
	if err != nil {
		return exitFailure, err
	}
	if o.list {
		for _, r := range engine.Rules() {
			fmt.Fprintf(stdout, "%-44s %-7s %-8s %s\n", r.ID, r.Severity, r.Scope, r.Title)
		}
		return exitOK, nil
	}
	if o.listKS {
		for _, id := range policy.KubeScoreChecks() {
			fmt.Fprintln(stdout, id)
		}
		return exitOK, nil
	}
	exceptionsFile := o.exceptions
	if exceptionsFile == "" {
		exceptionsFile = filepath.Join(rulesDir, "kube-score-exceptions.yaml")
	}
	exceptionsFile = relative(exceptionsFile)
	exceptions, err := policy.LoadKubeScoreExceptions(exceptionsFile)
	if err != nil {
		return exitFailure, err
	}

	targets, cleanup, err := loadTargets(o)
	defer cleanup()
	if err != nil {
		return exitFailure, err
	}
	code := exitOK
	var reports []report
	for _, t := range targets {
		res, err := engine.Evaluate(ctx, t.plan, policy.Options{Production: o.production})
		if err != nil {
			return exitFailure, fmt.Errorf("%s: %w", t.label, err)
		}
		ksr, err := policy.KubeScore(t.manifests, t.plan.Stack, exceptions)
		if err != nil {
			return exitFailure, fmt.Errorf("%s: %w", t.label, err)
		}
		violations := slices.Concat(res.Violations, ksr.Violations)
		policy.Sort(violations)
		r := report{
			Stack: t.plan.Stack, Source: t.label, Production: res.Production,
			Manifests: t.manifests, Scored: ksr.Files, Violations: violations, Accepted: ksr.Accepted,
		}
		reports = append(reports, r)
		if !o.json {
			printReport(stdout, r, len(t.plan.Resources), len(engine.Rules()), exceptionsFile)
		}
		for _, v := range violations {
			if v.Severity == policy.Error {
				code = exitViolations
			}
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return exitFailure, err
		}
	}
	return code, nil
}

// loadTargets reads the plans, or records the stack files and renders
// their manifests into a temporary directory; cleanup removes it.
func loadTargets(o options) (targets []target, cleanup func(), err error) {
	var temps []string
	cleanup = func() {
		for _, d := range temps {
			os.RemoveAll(d)
		}
	}
	plans := o.plans
	if len(plans) == 0 && len(o.stackFiles) == 0 {
		plans = files{defaultPlan}
	}
	for _, f := range plans {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, cleanup, fmt.Errorf("%w (run make plan, or give -plan or -stack-file)", err)
			}
			return nil, cleanup, err
		}
		var plan recorder.Plan
		if err := json.Unmarshal(b, &plan); err != nil {
			return nil, cleanup, fmt.Errorf("%s: %w", f, err)
		}
		dir := o.manifests
		if dir == "" {
			dir = filepath.Join(filepath.Dir(f), "manifests")
		}
		targets = append(targets, target{label: f, plan: &plan, manifests: dir})
	}
	for _, f := range o.stackFiles {
		plan, err := record(f)
		if err != nil {
			return nil, cleanup, err
		}
		dir := o.manifests
		if dir == "" {
			// The manifests of exactly this recording, as make plan renders them.
			if dir, err = os.MkdirTemp("", "policy-manifests-"); err != nil {
				return nil, cleanup, err
			}
			temps = append(temps, dir)
			dir = filepath.Join(dir, plan.Stack)
			if err := manifests.Write(dir, manifests.FromPlan(plan)); err != nil {
				return nil, cleanup, fmt.Errorf("%s: rendering manifests: %w", f, err)
			}
		}
		targets = append(targets, target{label: f, plan: plan, manifests: dir})
	}
	return targets, cleanup, nil
}

// record loads a stack file and records the program's preview, as make
// plan does (package stackplan).
func record(file string) (*recorder.Plan, error) {
	base := filepath.Base(file)
	if !strings.HasPrefix(base, "Pulumi.") || !strings.HasSuffix(base, ".yaml") || base == "Pulumi.yaml" {
		return nil, fmt.Errorf("%s: want a stack file named Pulumi.<stack>.yaml", file)
	}
	stack := strings.TrimSuffix(strings.TrimPrefix(base, "Pulumi."), ".yaml")
	plan, _, err := stackplan.Record(filepath.Dir(file), stack)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return plan, nil
}

func printReport(w io.Writer, r report, resources, rules int, exceptionsFile string) {
	production := "no"
	if len(r.Production) > 0 {
		production = "yes (" + strings.Join(r.Production, "; ") + ")"
	}
	fmt.Fprintf(w, "policy: stack %s from %s: %d resources, %d rules, production: %s\n", r.Stack, r.Source, resources, rules, production)
	if len(r.Scored) == 0 {
		fmt.Fprintf(w, "kube-score: no manifests in %s, skipped\n", r.Manifests)
	} else {
		fmt.Fprintf(w, "kube-score: %d manifest files in %s, %d findings accepted by %s\n", len(r.Scored), r.Manifests, len(r.Accepted), exceptionsFile)
	}
	var errs, warns []policy.Violation
	for _, v := range r.Violations {
		if v.Severity == policy.Error {
			errs = append(errs, v)
		} else {
			warns = append(warns, v)
		}
	}
	for _, group := range []struct {
		title string
		list  []policy.Violation
	}{{"errors", errs}, {"warnings", warns}} {
		if len(group.list) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d):\n", group.title, len(group.list))
		for _, v := range group.list {
			fmt.Fprintf(w, "  [%s] %s\n      %s\n", v.Rule, v.Resource(), v.Message)
		}
	}
	verdict := "PASS"
	if len(errs) > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\n%s: %s, %s\n", verdict, plural(len(errs), "error"), plural(len(warns), "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// relative shortens a path under the working directory for display.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
