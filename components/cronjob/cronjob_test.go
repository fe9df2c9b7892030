package cronjob

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// TestUnresolvedNamesAreRefused: a job with a Google identity whose
// physical names were not filled (no stack resolve step) is an error
// naming the job, not a guess.
func TestUnresolvedNamesAreRefused(t *testing.T) {
	spec := DefaultSpec()
	spec.Name = "report"
	spec.GoogleServiceAccount = &GoogleAccess{}
	_, err := recorder.Run(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "cronjob", Args{Spec: spec, Project: "p", Namespace: "asyncjobs"})
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test"})
	if err == nil || !strings.Contains(err.Error(), `cronjob "report": physical names not resolved`) {
		t.Fatalf("got %v, want an error naming the job's unresolved names", err)
	}
}
