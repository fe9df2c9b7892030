package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanWritesPlanJSON(t *testing.T) {
	out := t.TempDir()
	var stdout bytes.Buffer
	if err := run([]string{"-stack", "dev", "-dir", "../..", "-out", out}, &stdout); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"asyncjobs:worker:Worker worker", "gcp:cloudtasks/queue:Queue queue-sample-queue", "IAM grants", "roles/cloudtasks.enqueuer", "retryConfig.maxDoublings = 3"} {
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
	err := run([]string{"-stack", "broken", "-dir", dir, "-out", out}, &stdout)
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
	if stdout.Len() != 0 {
		t.Errorf("printed a plan for a broken stack:\n%s", stdout.String())
	}
}
