package planview

import (
	"bytes"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

func TestGrantsNameComputedMembersByTheirSource(t *testing.T) {
	plan := &recorder.Plan{Project: "p", Stack: "s", Preview: true, Resources: []*recorder.Resource{
		{URN: "urn:c", Type: "asyncjobs:x:C", Name: "c", Inputs: map[string]any{}},
		{URN: "urn:sa", Parent: "urn:c", Type: "gcp:serviceaccount/account:Account", Name: "queue-invoker", Custom: true,
			Inputs: map[string]any{"accountId": "q-invoker"}},
		{URN: "urn:g", Parent: "urn:c", Type: "gcp:cloudtasks/queueIamMember:QueueIamMember", Name: "g", Custom: true,
			Inputs:               map[string]any{"role": "roles/cloudtasks.enqueuer", "member": recorder.Computed, "name": "sample-queue"},
			PropertyDependencies: map[string][]string{"member": {"urn:sa"}}},
	}}
	grants := Grants(plan)
	if len(grants) != 1 {
		t.Fatalf("got %d grants", len(grants))
	}
	want := Grant{Role: "roles/cloudtasks.enqueuer", Member: "<member of queue-invoker>", On: "cloudtasks queue sample-queue", Resource: "g"}
	if grants[0] != want {
		t.Errorf("got %+v, want %+v", grants[0], want)
	}
	var out bytes.Buffer
	if err := Write(&out, plan); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"asyncjobs:x:C c\n  gcp:serviceaccount/account:Account queue-invoker\n      accountId = q-invoker", "IAM grants (1",
		"roles/cloudtasks.enqueuer  cloudtasks queue sample-queue  <member of queue-invoker>",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

// TestShortType: every grant type the program declares gets a readable
// name, project-level grants included (their kind is only "IAMMember").
func TestShortType(t *testing.T) {
	for typ, want := range map[string]string{
		"gcp:pubsub/topicIAMMember:TopicIAMMember":               "pubsub topic",
		"gcp:cloudtasks/queueIamMember:QueueIamMember":           "cloudtasks queue",
		"gcp:serviceaccount/iAMMember:IAMMember":                 "service account",
		"gcp:projects/iAMMember:IAMMember":                       "project",
		"gcp:cloudrunv2/serviceIamMember:ServiceIamMember":       "cloudrunv2 service",
		"gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": "pubsub subscription",
		"kubernetes:core/v1:Namespace":                           "core namespace",
		"not-a-type":                                             "not-a-type",
	} {
		if got := shortType(typ); got != want {
			t.Errorf("shortType(%q) = %q, want %q", typ, got, want)
		}
	}
}
