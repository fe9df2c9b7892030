// Command plandiff shows, offline, what a change does to a stack: it plans
// the stack at a base git revision (checked out with `git worktree add` into
// a temporary directory and planned there with that revision's own
// `cmd/plan`, built with -trimpath) and in the working tree, and prints the resources
// added, removed and changed, property by property, as Markdown, each with
// what the engine will do: create, update, replace (delete-before-replace or
// create-before-delete) or delete, as the real provider plugins decide
// (internal/plan/providerdiff; scripts/tools.sh provides them, or -plugin names
// them), and above it all every replacement or deletion of a resource that
// holds data or identity. Secrets are never printed. Ctrl-C stops it and
// removes the base worktree.
//
//	plandiff -base origin/main [-stack dev] [-fail-on-change]
//	plandiff -base-plan old.json -head-plan new.json [-plugin gcp=PATH]
//
// Exit status: 0 when the plans are the same (or differ without
// -fail-on-change), 1 when they differ and -fail-on-change is set, 2 on a
// refused command line and on errors, a provider plugin that is needed but
// not installed included (errors are also reported as Markdown on stdout,
// so a workflow can post them).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/plan/plandiff"
	"github.com/asyncjobs/asyncjobs/internal/plan/providerdiff"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
)

// Exit codes, as diff(1) has them; a refused command line is
// cli.ExitUsage, the same 2 as an error.
const (
	exitSame    = cli.ExitOK
	exitChanged = 1
	exitError   = cli.ExitUsage
)

var command = &cli.Command{
	Name: "plandiff",
	UsageLine: `plandiff --base ref [--stack name] [--dir dir] [--fail-on-change] [flags]
plandiff --base-plan file --head-plan file [--plugin package=path]... [flags]`,
	Long: `Plandiff shows, offline, what a change does to a stack: it plans the stack
at a base git revision (with that revision's own cmd/plan) and in the
working tree, or compares two plan.json files, and prints the resources
added, removed and changed, property by property, as Markdown, each with
what the engine will do, as the real provider plugins decide. Secrets are
never printed.

Exit status: 0 the plans are the same (or differ without --fail-on-change),
1 they differ and --fail-on-change is set, 2 usage or an error (also
reported as Markdown on stdout).`,
}

func main() { cli.Main(command.Name, run) }

type options struct {
	base, stack, dir, goCmd string
	basePlan, headPlan      string
	failOnChange            bool
	mask                    string
	// plugins are provider plugin binaries by package; the others come
	// from the tool cache.
	plugins map[string]string
}

func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := command.FlagSet()
	var o options
	fs.StringVar(&o.base, "base", "", "git revision to compare the working tree with, e.g. origin/main")
	fs.StringVar(&o.stack, "stack", "dev", "stack whose Pulumi.<stack>.yaml is planned")
	fs.StringVar(&o.dir, "dir", ".", "project directory (in a git work tree)")
	fs.StringVar(&o.goCmd, "go", envOr("GO", "go"), "go command used to build cmd/plan")
	fs.StringVar(&o.basePlan, "base-plan", "", "compare this plan.json instead of planning -base")
	fs.StringVar(&o.headPlan, "head-plan", "", "compare with this plan.json instead of planning the working tree")
	fs.BoolVar(&o.failOnChange, "fail-on-change", false, "exit 1 when anything changed")
	fs.StringVar(&o.mask, "mask", strings.Join(plandiff.DefaultSecretKeys, ","), "comma-separated property names whose values are always masked")
	o.plugins = map[string]string{}
	fs.Func("plugin", "`package=path` of a provider plugin binary "+
		"(repeatable; default: pulumi-resource-<package> from scripts/tools.sh's cache)", func(v string) error {
		pkg, path, ok := strings.Cut(v, "=")
		if !ok || pkg == "" || path == "" {
			return errors.New("want package=path")
		}
		o.plugins[pkg] = path
		return nil
	})
	if err := command.Parse(fs, args, stdout); err != nil {
		return err
	}
	if (o.base == "") == (o.basePlan == "") {
		return command.UsageError(errors.New("give exactly one of --base REF and --base-plan FILE"))
	}

	d, err := compute(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stdout, "### Plan diff for stack `%s`: failed\n\n```\n%s\n```\n", o.stack, strings.ReplaceAll(err.Error(), "```", "'''"))
		return cli.WithExit(exitError, err)
	}
	if err := d.WriteMarkdown(stdout); err != nil {
		return cli.WithExit(exitError, err)
	}
	if d.HasChanges() && o.failOnChange {
		return cli.Exit(exitChanged)
	}
	return nil
}

func compute(ctx context.Context, o options, stderr io.Writer) (*plandiff.Diff, error) {
	var (
		base, head           *recorder.Plan
		baseLabel, headLabel string
		err                  error
	)
	// The working tree first: its mistakes are the ones to fix.
	if o.headPlan != "" {
		if head, err = plandiff.Load(o.headPlan); err != nil {
			return nil, err
		}
		headLabel = "`" + o.headPlan + "`"
	} else {
		if head, err = planDir(ctx, o, o.dir); err != nil {
			return nil, fmt.Errorf("planning the working tree: %w", err)
		}
		headLabel = "working tree"
		if sha, err := git(ctx, o.dir, "rev-parse", "--short", "HEAD"); err == nil {
			headLabel += " (`" + sha + "`"
			if st, err := git(ctx, o.dir, "status", "--porcelain"); err == nil && st != "" {
				headLabel += " with uncommitted changes"
			}
			headLabel += ")"
		}
	}
	if o.basePlan != "" {
		if base, err = plandiff.Load(o.basePlan); err != nil {
			return nil, err
		}
		baseLabel = "`" + o.basePlan + "`"
	} else {
		if base, baseLabel, err = planAt(ctx, o, stderr); err != nil {
			return nil, err
		}
	}
	d := plandiff.Compute(base, head, plandiff.Options{SecretKeys: cli.SplitList(o.mask)})
	d.BaseLabel, d.HeadLabel = baseLabel, headLabel
	if d.Stack == "" {
		d.Stack = o.stack
	}
	set := providerdiff.New(providerdiff.Options{
		Binary: func(pkg string) (string, error) {
			if p, ok := o.plugins[pkg]; ok {
				return p, nil
			}
			p, err := toolcache.Installed("pulumi-resource-" + pkg)
			if err != nil {
				return "", fmt.Errorf("the %s provider plugin decides what the engine does with this change: %w (make plan-diff does this first)", pkg, err)
			}
			return p, nil
		},
		Config:       map[string]map[string]string{"gcp": {"project": gcpProject(head, base), "accessToken": "offline"}},
		Placeholders: []string{recorder.Computed, recorder.Secret, plandiff.Blinded},
	})
	defer set.Close()
	if err := d.Classify(ctx, base, head, providers{set}); err != nil {
		return nil, err
	}
	return d, nil
}

// providers asks the real provider plugins.
type providers struct{ set *providerdiff.Set }

func (p providers) Diff(ctx context.Context, c plandiff.ProviderChange) (plandiff.ProviderDecision, error) {
	r, err := p.set.Diff(ctx, providerdiff.Change{URN: c.URN, Olds: c.Olds, News: c.News, Unknown: c.Unknown})
	return plandiff.ProviderDecision{Changed: r.Changed, Replaces: r.Replaces, DeleteBeforeReplace: r.DeleteBeforeReplace}, err
}

// gcpProject is the project the plans' Google resources name most often,
// as the gcp provider's configuration: the stack's gcp:project. Only
// resources that name none use it, on both sides alike.
func gcpProject(plans ...*recorder.Plan) string {
	count := map[string]int{}
	best := "offline"
	for _, p := range plans {
		if p == nil {
			continue
		}
		for _, r := range p.Resources {
			if v, ok := r.Inputs["project"].(string); ok && strings.HasPrefix(r.Type, "gcp:") && v != recorder.Computed {
				count[v]++
				if count[v] > count[best] {
					best = v
				}
			}
		}
	}
	return best
}

// planAt plans the stack as it is at revision o.base, in a temporary
// worktree, with that revision's own planner. A revision without the stack
// file yields a nil plan (everything is new).
func planAt(ctx context.Context, o options, stderr io.Writer) (*recorder.Plan, string, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, "", err
	}
	top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, "", fmt.Errorf("%s is not in a git work tree: %w", dir, err)
	}
	sha, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", o.base+"^{commit}")
	if err != nil {
		return nil, "", fmt.Errorf("base revision %q not found (fetch it first, e.g. git fetch origin main)", o.base)
	}
	short := sha
	if len(short) > 12 {
		short = short[:12]
	}
	label := fmt.Sprintf("`%s` (`%s`)", o.base, short)

	tmp, err := os.MkdirTemp("", "plandiff-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	tree := filepath.Join(tmp, "base")
	if _, err := git(ctx, top, "worktree", "add", "--detach", "--quiet", tree, sha); err != nil {
		return nil, "", fmt.Errorf("git worktree add %s: %w", short, err)
	}
	defer func() {
		if _, err := git(context.WithoutCancel(ctx), top, "worktree", "remove", "--force", tree); err != nil {
			fmt.Fprintf(stderr, "plandiff: removing the base worktree: %v\n", err)
			_, _ = git(context.WithoutCancel(ctx), top, "worktree", "prune")
		}
	}()
	rel, err := filepath.Rel(evalSymlinks(top), evalSymlinks(dir))
	if err != nil {
		return nil, "", err
	}
	baseDir := filepath.Join(tree, rel)
	if _, err := os.Stat(filepath.Join(baseDir, "Pulumi."+o.stack+".yaml")); errors.Is(err, os.ErrNotExist) {
		return nil, label, nil
	}
	plan, err := planDir(ctx, o, baseDir)
	if err != nil {
		return nil, "", fmt.Errorf("planning base revision %s: %w", short, err)
	}
	return plan, label, nil
}

// planDir builds dir's own cmd/plan and runs it there with -quiet, then
// reads the plan it writes (into a scratch directory, so build/ is left
// alone). The build is -trimpath: without it the compiler's cache keys hold
// the source directory, so every temporary worktree would compile the whole
// module again; with it, a revision whose Go files match an earlier build
// (the usual case: a change to a stack file) reuses that build.
func planDir(ctx context.Context, o options, dir string) (*recorder.Plan, error) {
	out, err := os.MkdirTemp("", "plandiff-out-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	bin := filepath.Join(out, "plan")
	var buf bytes.Buffer
	build := exec.CommandContext(ctx, o.goCmd, "build", "-trimpath", "-o", bin, "./cmd/plan")
	build.Dir = dir
	build.Stdout, build.Stderr = &buf, &buf
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/plan: %v\n%s", err, strings.TrimSpace(buf.String()))
	}
	cmd := exec.CommandContext(ctx, bin, "-quiet", "-stack", o.stack, "-out", out)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cmd/plan -stack %s: %v\n%s", o.stack, err, strings.TrimSpace(buf.String()))
	}
	return plandiff.Load(filepath.Join(out, o.stack, "plan.json"))
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func evalSymlinks(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
