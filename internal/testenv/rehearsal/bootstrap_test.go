package rehearsal_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

// TestBootstrap runs the bootstrap program as docs/delivery.md says, with
// its example stack file, in bootstrap/: preview, up, then a preview, a
// refresh and a preview that find nothing to do. Its completions metric is
// new, so a stack's first up right after it fails where Google's would
// (Cloud Monitoring does not know the metric yet); once Monitoring's delay
// has passed, the stack comes up. The bootstrap is protected: its destroy
// is refused and deletes nothing.
func TestBootstrap(t *testing.T) {
	t.Parallel()
	e := rehearsal.StartWith(t, rehearsal.Options{NotBootstrapped: true})
	ctx := context.Background()
	const dir, stack = "bootstrap", "example"
	e.Must(ctx, dir, stack, "stack", "init", stack)
	onlyCreates(t, e.Pulumi(ctx, dir, stack, "preview", "--stack", stack, "--non-interactive", "--diff"), 40)
	e.Must(ctx, dir, stack, "up", "--stack", stack, "--non-interactive", "--yes", "--skip-preview")
	noChanges(t, e, dir, stack)

	e.Init(ctx, "dev")
	r := e.Up(ctx, "dev")
	if r.Err == nil {
		t.Fatal("dev came up minutes after the bootstrap created the metric its overdue alert reads: the fake Google does not model Monitoring's delay")
	}
	if !strings.Contains(r.Output, "Cannot find metric(s) that match type") || !strings.Contains(r.Output, monitoring.MetricCronJobCompleted) {
		t.Fatalf("dev's first up failed, but not for the new metric:\n%v", r.Err)
	}
	cfg := config(t, e, "dev")
	project := cfg.Config["gcp:project"]
	e.Google.Backdate(project, monitoring.MetricCronJobCompleted)
	if r := e.Up(ctx, "dev"); r.Err != nil {
		t.Fatal(r.Err)
	}

	before, beforeGoogle := e.State(ctx, dir, stack), inventory(t, e)
	d := e.Pulumi(ctx, dir, stack, "destroy", "--stack", stack, "--non-interactive", "--yes", "--skip-preview")
	if d.Err == nil {
		t.Fatal("destroy of the protected bootstrap succeeded")
	}
	if !strings.Contains(d.Output, "protect") {
		t.Errorf("destroy failed, but not for protection: %v", d.Err)
	}
	keptByRefusedDestroy(t, before, e.State(ctx, dir, stack))
	if after := inventory(t, e); !maps.Equal(beforeGoogle, after) {
		t.Errorf("a refused destroy changed Google objects:\n%s", mapDiff(beforeGoogle, after))
	}
}
