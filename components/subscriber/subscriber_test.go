package subscriber

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// TestUnresolvedNamesAreRefused: a spec whose physical names were not
// filled (no stack resolve step), or no physical subscription name, is an
// error naming the subscriber, not a guess; nothing is registered.
func TestUnresolvedNamesAreRefused(t *testing.T) {
	resolved := DefaultSpec()
	resolved.Name = "puller"
	// As the stack's resolve step fills them for name suffix t1.
	resolved.Names = Names{Account: "puller-sub-t1"}
	unresolved := resolved
	unresolved.Names = Names{}
	for _, c := range []struct {
		name         string
		spec         Spec
		subscription string
	}{
		{"account", unresolved, "jobs-pull-t1"},
		{"subscription name", resolved, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, err := recorder.Run(func(ctx *pulumi.Context) error {
				_, err := New(ctx, "subscriber", Args{Spec: c.spec, Project: "p", Namespace: "asyncjobs", SubscriptionName: c.subscription})
				return err
			}, recorder.Options{Project: "asyncjobs", Stack: "test"})
			if err == nil || !strings.Contains(err.Error(), `subscriber "puller": physical names not resolved`) {
				t.Fatalf("got %v, want an error naming the subscriber's unresolved names", err)
			}
			if plan == nil {
				t.Fatal("the recorder returned no plan")
			}
			if len(plan.Resources) > 0 {
				t.Errorf("registered %d resources before refusing", len(plan.Resources))
			}
		})
	}
}
