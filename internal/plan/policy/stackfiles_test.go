package policy_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/manifests"
	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
)

// TestEveryStackFilePasses records every Pulumi.<stack>.yaml in preview
// mode, as make plan does, and requires zero error-level violations: from
// policy.Evaluate over the plan, and from kube-score over the manifests
// the plan renders (as make plan writes them to build/<stack>/manifests).
// Warnings are logged. An exception scoped to a stack must still be
// needed by that stack.
func TestEveryStackFilePasses(t *testing.T) {
	names, err := stackfile.Stacks(projectDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 2 {
		t.Fatalf("found stack files %v, want at least dev and prod", names)
	}
	exc := exceptions(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			plan := record(t, name, nil)
			if len(plan.Resources) < 10 {
				t.Fatalf("only %d resources recorded", len(plan.Resources))
			}
			vs, err := policy.Evaluate(context.Background(), plan)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				if v.Severity == policy.Error {
					t.Errorf("%s", v)
				} else {
					t.Logf("warning: %s", v)
				}
			}

			dir := filepath.Join(t.TempDir(), name, "manifests")
			objects := manifests.FromPlan(plan)
			if err := manifests.Write(dir, objects); err != nil {
				t.Fatal(err)
			}
			r, err := policy.KubeScore(dir, name, exc)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Files) != len(objects) {
				t.Errorf("kube-score read %d of %d manifests", len(r.Files), len(objects))
			}
			for _, v := range r.Violations {
				t.Errorf("%s", v)
			}
			for _, e := range r.Unused {
				if len(e.Stacks) > 0 {
					t.Errorf("the %s exception for stacks %v matches nothing in stack %s; remove it", e.Check, e.Stacks, name)
				}
			}
		})
	}
}
