package rehearsal_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/asyncjobs/asyncjobs/internal/rehearsal"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// TestFirstUpNeedsTheActAsGate: the rehearsal models IAM propagation, so
// the program without its actAs gate fails its first up where Google would
// (Cloud Run refuses the service: the deployer's fresh actAs grant on the
// runtime account has not taken effect); the program as main.go runs it
// (rehearsal.Program wraps stacks.Program) waits for the grants of a fresh
// stack, saying so, and comes up.
func TestFirstUpNeedsTheActAsGate(t *testing.T) {
	e := rehearsal.Start(t)
	ctx := context.Background()
	src := e.Source()
	src.Program = rehearsal.ProgramOf(stacks.ProgramWith(nil))
	ungated, err := src.Stack(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ungated.Up(ctx, optup.ProgressStreams(e.Log), optup.ErrorProgressStreams(e.Log))
	if err == nil {
		t.Fatal("the first up without the gate succeeded: the rehearsal does not model IAM propagation")
	}
	const refusal = "Error 403: Permission 'iam.serviceaccounts.actAs' denied on service account worker-run@"
	if !strings.Contains(err.Error(), refusal) {
		t.Fatalf("the first up without the gate failed, but not with Cloud Run's refusal:\n%v", err)
	}

	var out rehearsal.SyncBuffer
	prod := e.Stack(ctx, "prod")
	if _, err := prod.Up(ctx, optup.ProgressStreams(&out, e.Log), optup.ErrorProgressStreams(e.Log)); err != nil {
		t.Fatalf("gated up of prod: %v", err)
	}
	// The gate calls the rehearsal's IAM API without credentials, so it
	// names its identity by that endpoint.
	said := regexp.MustCompile(`waiting until the caller of http://127\.0\.0\.1:\d+ may act as ([a-z-]+)@asyncjobs-prod\.`)
	var waited []string
	for _, m := range said.FindAllStringSubmatch(out.Tail(1000), -1) {
		if !slices.Contains(waited, m[1]) {
			waited = append(waited, m[1])
		}
	}
	if slices.Sort(waited); !slices.Equal(waited, []string{"asyncjobs-prod-nodes", "worker-push", "worker-run"}) {
		t.Errorf("the gated up waited for %v, want the node, push and runtime accounts", waited)
	}
}
