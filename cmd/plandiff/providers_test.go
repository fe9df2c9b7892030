package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// pluginArgs names the real provider plugins (skipping the test under
// -short, failing it under CI=true when they cannot be provided).
func pluginArgs(t *testing.T) []string {
	t.Helper()
	return []string{
		"-plugin", "gcp=" + toolcache.Path(t, "pulumi-resource-gcp"),
		"-plugin", "kubernetes=" + toolcache.Path(t, "pulumi-resource-kubernetes"),
	}
}

// TestClassifiedPlanFiles is make plan-diff's output end to end, on two
// plan.json files of the dev stack: the head changes the worker
// subscription's filter and the queue's retry and no longer has the
// dead-letter subscription. The real providers say what happens.
func TestClassifiedPlanFiles(t *testing.T) {
	plugins := pluginArgs(t)
	st, err := stackfile.Load("../..", "dev")
	if err != nil {
		t.Fatal(err)
	}
	base, err := recorder.Run(stacks.Program, recorder.Options{
		Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys, Preview: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "base.json"), filepath.Join(dir, "head.json")
	writePlan(t, a, base)
	var head recorder.Plan
	raw, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		t.Fatal(err)
	}
	var kept []*recorder.Resource
	for _, r := range head.Resources {
		switch r.Type + " " + r.Name {
		case "gcp:pubsub/subscription:Subscription topic-jobs-jobs-worker-dl":
			continue
		case "gcp:pubsub/subscription:Subscription topic-jobs-jobs-worker":
			r.Inputs["filter"] = `attributes.kind = "report"`
		case "gcp:cloudtasks/queue:Queue queue-sample-queue":
			r.Inputs["retryConfig"].(map[string]any)["maxDoublings"] = 5.0
		}
		kept = append(kept, r)
	}
	head.Resources = kept
	writePlan(t, b, &head)

	code, stdout, stderr := runCmd(t, append([]string{"-base-plan", a, "-head-plan", b, "-fail-on-change"}, plugins...)...)
	if code != exitChanged {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitChanged, stdout, stderr)
	}
	top, rest, ok := strings.Cut(stdout, "to add, ")
	if !ok {
		t.Fatalf("no summary:\n%s", stdout)
	}
	for _, want := range []string{
		"#### Replaced or deleted, holding data or identity (2)",
		"- `gcp:pubsub/subscription:Subscription` **topic-jobs-jobs-worker** (unacknowledged messages): " +
			"**replace** (delete-before-replace): `filter` forces a replacement",
		"- `gcp:pubsub/subscription:Subscription` **topic-jobs-jobs-worker-dl** (unacknowledged messages): **delete**",
	} {
		if !strings.Contains(top, want) {
			t.Errorf("the top of the output lacks %q:\n%s", want, top)
		}
	}
	for _, want := range []string{
		"As the providers decide: **0 to create, 1 to update, 3 to replace, 1 to delete**",
		"`gcp:cloudtasks/queue:Queue` **queue-sample-queue**: **update**",
		"| `retryConfig.maxDoublings` | `3` | `5` |",
		"**topic-jobs-jobs-worker-dl-agent-subscriber**: **replace** (create-before-delete): " +
			"`gcp:pubsub/subscription:Subscription::topic-jobs-jobs-worker` is replaced (replaceWith)",
		"<b>topic-jobs-jobs-worker-dl</b>: delete</summary>",
	} {
		if !strings.Contains(rest, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestMissingPlugin: a change that needs a provider plugin the tool cache
// does not have fails with exit 2, naming the tool and the command that
// installs it; nothing is classified without it.
func TestMissingPlugin(t *testing.T) {
	t.Setenv("ASYNCJOBS_TOOLS_CACHE", t.TempDir())
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	writePlan(t, a, workerPlan("img:v1", false))
	writePlan(t, b, workerPlan("img:v2", false))
	code, stdout, stderr := runCmd(t, "-base-plan", a, "-head-plan", b)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	for _, out := range []string{stdout, stderr} {
		if !strings.Contains(out, "pulumi-resource-gcp") || !strings.Contains(out, "scripts/tools.sh ensure pulumi-resource-gcp") {
			t.Errorf("the message does not say which tool is missing and how to install it:\n%s", out)
		}
	}
	if strings.Contains(stdout, "to change") {
		t.Errorf("a diff was printed without its classification:\n%s", stdout)
	}
}
