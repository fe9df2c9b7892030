package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/plandiff"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackplan"
	"github.com/asyncjobs/asyncjobs/stacks"
)

func TestPlanWritesPlanJSON(t *testing.T) {
	out := t.TempDir()
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-stack", "dev", "-dir", "../..", "-out", out}, nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"asyncjobs:worker:Worker worker", "gcp:cloudtasks/queue:Queue queue-sample-queue", "IAM grants", "roles/cloudtasks.enqueuer",
		"retryConfig.maxDoublings = 3",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "dev", "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Project   string           `json:"project"`
		Stack     string           `json:"stack"`
		Resources []map[string]any `json:"resources"`
		Outputs   map[string]any   `json:"outputs"`
	}
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Project != "asyncjobs" || plan.Stack != "dev" {
		t.Errorf("plan of %s/%s", plan.Project, plan.Stack)
	}
	if len(plan.Resources) < 20 {
		t.Fatalf("only %d resources", len(plan.Resources))
	}
	for _, r := range plan.Resources {
		for _, k := range []string{"urn", "type", "name", "custom", "parent", "provider", "inputs", "dependencies", "protect", "retainOnDelete"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("resource %v lacks %q", r["urn"], k)
			}
		}
	}
	if !bytes.Contains(b, []byte(`"<computed>"`)) {
		t.Errorf("plan.json has no \"<computed>\" value although it is a preview")
	}
	if _, ok := plan.Outputs["queues"]; !ok {
		t.Errorf("outputs lack queues: %v", plan.Outputs)
	}
}

func TestBrokenStackWritesNoPlan(t *testing.T) {
	dir := t.TempDir()
	for src, dst := range map[string]string{"../../Pulumi.yaml": "Pulumi.yaml", "testdata/Pulumi.broken.yaml": "Pulumi.broken.yaml"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	stale := filepath.Join(out, "broken", "plan.json")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte(`{"stale": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-stack", "broken", "-dir", dir, "-out", out}, nil, &stdout, &stderr)
	if err == nil {
		t.Fatal("broken stack planned")
	}
	for _, want := range []string{
		`asyncjobs:nameSufix: Not found: unknown key (did you mean "nameSuffix"?)`,
		"asyncjobs:queues[0].retry.maxDoublings: Invalid value: -1: must be >= 0",
		"asyncjobs:worker.invokers[0]: Forbidden",
		"no plan written",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, statErr := os.Stat(stale); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("stale plan.json left behind (%v)", statErr)
	}
	if stdout.Len() != 0 || stderr.Len() != 0 {
		t.Errorf("printed a plan for a broken stack:\n%s%s", stdout.String(), stderr.String())
	}
}

// TestInterruptedWritesNoPlan: a run whose context is cancelled (by Ctrl-C,
// in cli.Main) leaves the previous plan.json as it was.
func TestInterruptedWritesNoPlan(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, []string{"-stack", "dev", "-dir", "../..", "-out", out}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "interrupted; no plan written") {
		t.Errorf("err = %v, want an interruption", err)
	}
	if _, statErr := os.Stat(filepath.Join(out, "dev", "plan.json")); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("plan.json written after an interrupt (%v)", statErr)
	}
}

// The dev stack's capacity warning: its queue's 1000 concurrent dispatches
// against its worker of 1 instance × 80 requests.
const devCapacityWarning = "warning: asyncjobs:queues[0].rateLimits.maxConcurrentDispatches: " +
	"queue sample-queue dispatches up to 1000 tasks at once but the worker takes at most 80 (maxInstances 1 × concurrency 80)"

// TestPlanPrintsTimelinesAndWarnings: after the plan tree come the retry
// timelines and the warnings, and plan.json holds them too, beside the
// recorded plan that its other readers decode.
func TestPlanPrintsTimelinesAndWarnings(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-stack", "dev", "-dir", "../..", "-out", out}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	text := stdout.String()
	tree := strings.Index(text, "IAM grants")
	timelines := strings.Index(text, "\nRetry timelines")
	warnings := strings.Index(text, "\nWarnings (")
	if tree < 0 || timelines < tree || warnings < timelines {
		t.Fatalf("want the tree, then the timelines, then the warnings (at %d, %d, %d):\n%s", tree, timelines, warnings, text)
	}
	for _, want := range []string{
		"queue sample-queue (asyncjobs:queues[0].retry)\n  10 attempts over 29m10s, then the task is deleted",
		// The dev queue's intervals: 10s, 20s, 40s, 80s, 160s, 240s, then +80s.
		"          2    10s     10s\n          3    20s     30s\n          4    40s   1m10s\n" +
			"          5  1m20s   2m30s\n          6  2m40s   5m10s\n          7     4m   9m10s\n",
		"         10     8m  29m10s\n",
		"subscription jobs/jobs-worker (asyncjobs:topics[0].subscriptions[0])\n  dead-lettered after 5 delivery attempts",
		"    dead-lettered         0s                    5m\n",
		devCapacityWarning,
		"warning: asyncjobs:worker.timeout: the worker's request timeout 1h is longer than the longest dispatch deadline",
	} {
		if !strings.Contains(text[timelines:], want) {
			t.Errorf("output after the tree lacks %q", want)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr without -quiet: %s", stderr.String())
	}

	b, err := os.ReadFile(filepath.Join(out, "dev", "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Timelines []struct {
			Path     string `json:"path"`
			Kind     string `json:"kind"`
			Name     string `json:"name"`
			Summary  string `json:"summary"`
			Timeline struct {
				End       string    `json:"end"`
				Attempts  int       `json:"attempts"`
				Intervals []float64 `json:"intervalsSeconds"`
				Total     float64   `json:"totalSeconds"`
				TimedOut  float64   `json:"totalIfTimedOutSeconds"`
			} `json:"timeline"`
		} `json:"timelines"`
		Warnings []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"warnings"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Timelines) != 2 {
		t.Fatalf("%d timelines in plan.json, want the queue and the subscription", len(file.Timelines))
	}
	q, s := file.Timelines[0], file.Timelines[1]
	if q.Path != "asyncjobs:queues[0].retry" || q.Kind != "queue" || q.Timeline.End != "given up" || q.Timeline.Attempts != 10 || q.Timeline.Total != 1750 ||
		fmt.Sprint(q.Timeline.Intervals) != "[10 20 40 80 160 240 320 400 480]" {
		t.Errorf("queue timeline in plan.json: %+v", q)
	}
	if s.Name != "jobs/jobs-worker" || s.Timeline.End != "dead-lettered" || s.Timeline.Attempts != 5 || s.Timeline.TimedOut != 300 {
		t.Errorf("subscription timeline in plan.json: %+v", s)
	}
	found := false
	for _, w := range file.Warnings {
		found = found || strings.HasPrefix("warning: "+w.Path+": "+w.Message, devCapacityWarning)
	}
	if !found {
		t.Errorf("plan.json lacks the capacity warning: %+v", file.Warnings)
	}

	// The readers of plan.json (policy, plandiff) decode a recorder.Plan.
	p, err := plandiff.Load(filepath.Join(out, "dev", "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Stack != "dev" || len(p.Resources) < 20 {
		t.Errorf("plan.json read back as %s with %d resources", p.Stack, len(p.Resources))
	}
}

// TestQuietPrintsWarningsOnly: -quiet prints no tree and no timelines,
// and the warnings on stderr.
func TestQuietPrintsWarningsOnly(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-quiet", "-stack", "dev", "-dir", "../..", "-out", out}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "Retry timelines") || strings.Contains(stdout.String(), "IAM grants") || strings.Contains(stdout.String(), "warning:") {
		t.Errorf("-quiet printed more than the summary line:\n%s", stdout.String())
	}
	if !strings.HasPrefix(stderr.String(), "warning: ") || !strings.Contains(stderr.String(), devCapacityWarning) {
		t.Errorf("-quiet stderr lacks the capacity warning:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "dev", "plan.json")); err != nil {
		t.Error(err)
	}
}

// TestPlanningExcerpt: docs/planning.md's excerpt of make plan for dev is
// what make plan prints.
func TestPlanningExcerpt(t *testing.T) {
	const docFile = "../../docs/planning.md"
	doc, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "From `make plan` for dev")
	if !ok {
		t.Fatal(docFile + " lacks the make plan excerpt")
	}
	_, block, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal(docFile + ": no code block after the make plan excerpt's heading")
	}
	excerpt, _, ok := strings.Cut(block, "```")
	if !ok || strings.Count(excerpt, "\n") < 10 {
		t.Fatalf("%s: the make plan excerpt is cut short:\n%s", docFile, excerpt)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-stack", "dev", "-dir", "../..", "-out", t.TempDir()}, nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), excerpt) {
		t.Errorf("%s: the excerpt is not in the output of make plan; the output after the tree:\n%s", docFile,
			stdout.String()[max(0, strings.Index(stdout.String(), "Retry timelines")):])
	}
}

// TestStackFileMistakes: whatever is wrong with a stack file, make plan
// reports every problem in one list, each where it is, and writes no plan:
// Pulumi.yaml's schema (which the CLI checks before the program runs) and
// the program's own rules together; a YAML syntax error at the line of the
// mistake.
func TestStackFileMistakes(t *testing.T) {
	dev, err := os.ReadFile("../../Pulumi.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) string {
		if strings.Count(string(dev), old) != 1 {
			t.Fatalf("Pulumi.dev.yaml holds %q not once", old)
		}
		return strings.Replace(string(dev), old, new, 1)
	}
	underIndented := edit("    cpu: 1000m\n", "   cpu: 1000m\n")
	overIndented := edit("    concurrency: 80\n", "     concurrency: 80\n")
	tabbed := edit("    timeout: 60m\n", "\ttimeout: 60m\n")
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"schema and program problems in one list",
			edit("  asyncjobs:region: asia-northeast1\n", "  asyncjobs:region: asia-northeast1\n  asyncjobs:protect: maybe\n") + "",
			[]string{"asyncjobs:protect: Invalid value: \"maybe\"", "invalid configuration"}},
		{"schema type, unreadable duration and range at once",
			strings.Replace(strings.Replace(edit("  asyncjobs:region: asia-northeast1\n", "  asyncjobs:region: asia-northeast1\n  asyncjobs:enableApis: sometimes\n"),
				"    port: 8080\n", "    port: 0\n", 1), "    timeout: 60m\n", "    timeout: ten\n", 1),
			[]string{"asyncjobs:enableApis: Invalid value: \"sometimes\"", "asyncjobs:worker.port: Invalid value: 0",
				"asyncjobs:worker.timeout: Invalid value: \"ten\"", "(3 problems)"}},
		{"missing required key with a program error",
			strings.Replace(edit("  asyncjobs:region: asia-northeast1\n", ""), "    port: 8080\n", "    port: 70000\n", 1),
			[]string{"asyncjobs:region: Required value", "asyncjobs:worker.port: Invalid value: 70000"}},
		{"YAML: a key indented too little", underIndented, []string{lineOf(t, underIndented, "   cpu: 1000m")}},
		{"YAML: a key indented too much", overIndented, []string{lineOf(t, overIndented, "     concurrency: 80")}},
		{"YAML: a tab", tabbed, []string{lineOf(t, tabbed, "\ttimeout: 60m")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			project, err := os.ReadFile("../../Pulumi.yaml")
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range map[string]string{"Pulumi.yaml": string(project), "Pulumi.x.yaml": tc.file} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			err = run(context.Background(), []string{"-stack", "x", "-dir", dir, "-out", out, "-quiet"}, nil, &stdout, &stderr)
			if err == nil {
				t.Fatal("planned")
			}
			for _, w := range append(tc.want, "no plan written") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, statErr := os.Stat(filepath.Join(out, "x", "plan.json")); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("a plan was written (%v)", statErr)
			}
		})
	}
}

func TestFormatWarnings(t *testing.T) {
	var b strings.Builder
	if err := formatWarnings(&b, []stacks.Warning{{Path: "asyncjobs:worker.timeout", Message: "a"}, {Path: "asyncjobs:queues", Message: "b"}}); err != nil {
		t.Fatal(err)
	}
	if want := "warning: asyncjobs:worker.timeout: a\nwarning: asyncjobs:queues: b\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestPreviewLogsWhatPlanPrints: `pulumi preview` shows the program's
// logged warnings, and they are exactly the ones make plan prints, in the
// same order, for every stack file (dev has capacity warnings).
func TestPreviewLogsWhatPlanPrints(t *testing.T) {
	for _, stack := range stackFiles(t) {
		t.Run(stack, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{"-quiet", "-stack", stack, "-dir", "../..", "-out", t.TempDir()}, nil, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			printed := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			plan, _, err := stackplan.Record("../..", stack)
			if err != nil {
				t.Fatal(err)
			}
			if !plan.Preview {
				t.Fatal("the plan was not recorded as a preview")
			}
			var logged []string
			for _, l := range plan.Logs {
				if l.Severity == "warning" {
					logged = append(logged, "warning: "+l.Message)
				}
			}
			if strings.Join(logged, "\n") != strings.Join(printed, "\n") {
				t.Errorf("the program logs\n%s\nmake plan prints\n%s", strings.Join(logged, "\n"), strings.Join(printed, "\n"))
			}
			if stack == "dev" && !strings.Contains(strings.Join(logged, "\n"), devCapacityWarning) {
				t.Errorf("dev's preview does not log the capacity warning %q", devCapacityWarning)
			}
		})
	}
}

// TestEveryStackFileFullOutput: make plan STACK=<each stack file>, without
// -quiet, prints the tree, the grants, the look-ups and the outputs, and
// prints them the same way twice (the SDK runs invokes on goroutines).
func TestEveryStackFileFullOutput(t *testing.T) {
	for _, stack := range stackFiles(t) {
		t.Run(stack, func(t *testing.T) {
			var outs [2]string
			dir := t.TempDir()
			for i := range outs {
				var stdout bytes.Buffer
				if err := run(context.Background(), []string{"-stack", stack, "-dir", "../..", "-out", dir}, nil, &stdout, io.Discard); err != nil {
					t.Fatal(err)
				}
				outs[i] = stdout.String()
			}
			for _, want := range []string{"IAM grants", "Stack outputs"} {
				if !strings.Contains(outs[0], want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if outs[0] != outs[1] {
				t.Error("two runs of make plan printed different output")
			}
		})
	}
}

// stackFiles names the stack of every Pulumi.<stack>.yaml of the project.
func stackFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../Pulumi.*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	return names
}
