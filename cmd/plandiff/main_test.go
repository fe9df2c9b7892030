package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), "plandiff", run, args, nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writePlan(t *testing.T, path string, p *recorder.Plan) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// workerPlan is a plan of one Cloud Run service.
func workerPlan(image string, protect bool) *recorder.Plan {
	return &recorder.Plan{Project: "asyncjobs", Stack: "dev", Resources: []*recorder.Resource{{
		URN:  "urn:pulumi:dev::asyncjobs::gcp:cloudrunv2/service:Service::worker",
		Type: "gcp:cloudrunv2/service:Service", Name: "worker", Custom: true, Protect: protect,
		Inputs: map[string]any{"template": map[string]any{"containers": []any{map[string]any{"image": image}}}},
	}}, Outputs: map[string]any{}}
}

// TestPlanFiles: two plan.json files, the exit status with and without
// -fail-on-change, and bad invocations. Only the resource's options change,
// so no provider plugin is asked.
func TestPlanFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	writePlan(t, a, workerPlan("img:v1", false))
	writePlan(t, b, workerPlan("img:v1", true))

	code, stdout, _ := runCmd(t, "-base-plan", a, "-head-plan", b)
	if code != exitSame || !strings.Contains(stdout, "| `(protect)` | _(absent)_ | `true` |") ||
		!strings.Contains(stdout, "**worker**: **same**: only options or relations change") {
		t.Errorf("changed plans without -fail-on-change: exit %d\n%s", code, stdout)
	}
	if code, _, _ := runCmd(t, "-base-plan", a, "-head-plan", b, "-fail-on-change"); code != exitChanged {
		t.Errorf("changed plans with -fail-on-change: exit %d, want %d", code, exitChanged)
	}
	code, stdout, _ = runCmd(t, "-base-plan", a, "-head-plan", a, "-fail-on-change")
	if code != exitSame || !strings.Contains(stdout, "**No changes**") {
		t.Errorf("same plans: exit %d\n%s", code, stdout)
	}
	for _, args := range [][]string{
		{},
		{"-base", "HEAD", "-base-plan", a},
		{"-base-plan", a, "extra"},
		{"-base-plan", filepath.Join(dir, "missing.json"), "-head-plan", b},
		{"-base-plan", a, "-head-plan", b, "-plugin", "gcp"},
	} {
		if code, _, _ := runCmd(t, args...); code != exitError {
			t.Errorf("%q: exit %d, want %d", args, code, exitError)
		}
	}
}

// TestGitWorktree is the whole path of `make plan-diff`: a temporary git
// repository holding the planner and a stack file, a committed base, a
// change in the working tree, and each side planned by its own cmd/plan.
func TestGitWorktree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/plan twice")
	}
	repo := copyPlanner(t)
	commitAll(t, repo)

	stackFile := filepath.Join(repo, "Pulumi.dev.yaml")
	b, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "maxInstances: 1\n", "maxInstances: 4\n", 1)
	if changed == string(b) {
		t.Fatal("Pulumi.dev.yaml has no 'maxInstances: 1' to change")
	}
	if err := os.WriteFile(stackFile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}

	plugins := pluginArgs(t)
	code, stdout, stderr := runCmd(t, append([]string{"-dir", repo, "-base", "HEAD", "-stack", "dev", "-fail-on-change"}, plugins...)...)
	if code != exitChanged {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitChanged, stdout, stderr)
	}
	for _, want := range []string{
		"**0 to add, 0 to remove, 1 to change**",
		"`gcp:cloudrunv2/service:Service` **worker**: **update**",
		"| `template.scaling.maxInstanceCount` | `1` | `4` |",
		"Base: `HEAD` (`",
		"with uncommitted changes",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if out := gitIn(t, repo, "worktree", "list", "--porcelain"); strings.Count(out, "worktree ") != 1 {
		t.Errorf("the base worktree was left behind:\n%s", out)
	}

	// A stack file the base does not have: everything is new.
	if err := os.WriteFile(filepath.Join(repo, "Pulumi.qa.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCmd(t, "-dir", repo, "-base", "HEAD", "-stack", "qa")
	if code != exitSame || !strings.Contains(stdout, "The base revision has no such stack") || !strings.Contains(stdout, "to add, 0 to remove, 0 to change") {
		t.Errorf("new stack: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// An unknown base revision is an error, reported as Markdown too.
	code, stdout, _ = runCmd(t, "-dir", repo, "-base", "no-such-branch", "-stack", "dev")
	if code != exitError || !strings.Contains(stdout, "failed") || !strings.Contains(stdout, `base revision "no-such-branch" not found`) {
		t.Errorf("unknown base: exit %d\n%s", code, stdout)
	}
	// A working tree whose stack file is invalid: the planner's message is shown.
	if err := os.WriteFile(stackFile, []byte(strings.Replace(changed, "maxInstances: 4\n", "maxInstances: 0\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCmd(t, "-dir", repo, "-base", "HEAD", "-stack", "dev")
	if code != exitError || !strings.Contains(stdout, "planning the working tree") || !strings.Contains(stdout, "asyncjobs:worker.maxInstances") {
		t.Errorf("invalid working tree: exit %d\n%s", code, stdout)
	}
}

// TestInterruptRemovesWorktree: Ctrl-C (cli.Main cancels the context)
// while the base revision is being planned stops the run and removes the
// base worktree. A stand-in go command holds the base's build until the
// test cancels it, so nothing is compiled.
func TestInterruptRemovesWorktree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git")
	}
	repo, bin := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "Pulumi.dev.yaml"), []byte("config: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo)
	head := filepath.Join(bin, "head.json")
	writePlan(t, head, &recorder.Plan{Project: "asyncjobs", Stack: "dev", Outputs: map[string]any{}})
	building := filepath.Join(bin, "building")
	goCmd := filepath.Join(bin, "go")
	script := "#!/bin/sh\n: > '" + building + "'\nexec sleep 60\n"
	if err := os.WriteFile(goCmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := cli.Run(ctx, "plandiff", run, []string{"-dir", repo, "-base", "HEAD", "-head-plan", head, "-go", goCmd}, nil, &stdout, &stderr)
		done <- result{code, stdout.String(), stderr.String()}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(building); err == nil {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("ended before planning the base: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the base revision's build never started")
		}
	}
	if out := gitIn(t, repo, "worktree", "list", "--porcelain"); strings.Count(out, "worktree ") != 2 {
		t.Fatalf("no base worktree while planning the base:\n%s", out)
	}
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop after its context was cancelled")
	}
	if r.code != exitError {
		t.Errorf("exit %d, want %d\nstderr:\n%s", r.code, exitError, r.stderr)
	}
	if out := gitIn(t, repo, "worktree", "list", "--porcelain"); strings.Count(out, "worktree ") != 1 {
		t.Errorf("the base worktree was left behind:\n%s", out)
	}
}

// commitAll makes dir a git repository whose one commit, the base, holds
// every file in it. Without git the test is skipped (failed under CI=true).
func commitAll(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git not found (CI=true: a missing tool is a failure)")
		}
		t.Skip("git not found")
	}
	gitIn(t, dir, "init", "--quiet")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "-c", "user.name=plandiff", "-c", "user.email=plandiff@example.invalid", "commit", "--quiet", "-m", "base")
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// copyPlanner copies into a fresh directory what `go run ./cmd/plan -stack
// dev` needs: go.mod, go.sum, the project and dev stack files, and the
// non-test Go files of every package of this module that cmd/plan imports.
func copyPlanner(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// One line per package: its directory, then the files a build reads.
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`, "../plan").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dst := t.TempDir()
	copyFile := func(rel string) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"go.mod", "go.sum", "Pulumi.yaml", "Pulumi.dev.yaml"} {
		copyFile(f)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, fields[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency outside the module
		}
		for _, f := range fields[1:] {
			copyFile(filepath.Join(rel, f))
			n++
		}
	}
	if n < 10 {
		t.Fatalf("copied only %d Go files of the planner", n)
	}
	return dst
}
