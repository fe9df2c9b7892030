package rehearsal_test

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

// The resources the dev and prod scenarios change, by short name.
const (
	queue    = "gcp:cloudtasks/queue:Queue::queue-sample-queue"
	cron     = "kubernetes:batch/v1:CronJob::cronjob-indexed-echo"
	service  = "gcp:cloudrunv2/service:Service::worker"
	sub      = "gcp:pubsub/subscription:Subscription::topic-jobs-jobs-worker"
	agentSub = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember::topic-jobs-jobs-worker-dl-agent-subscriber"
	pull     = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember::subscriber-jobs-subscriber-pull"
	missed   = "gcp:monitoring/alertPolicy:AlertPolicy::monitoring-cronjob-indexed-echo-missed"
	overdue  = "gcp:monitoring/alertPolicy:AlertPolicy::monitoring-cronjob-indexed-echo-overdue"
)

// filterEdit adds a filter to the jobs-worker subscription: Pub/Sub cannot
// change a subscription's filter in place.
var filterEdit = [2]string{"        - name: jobs-worker\n", "        - name: jobs-worker\n          filter: attributes.kind = \"report\"\n"}

// devChanges: on the deployed dev stack, three configuration changes (a
// queue's maxDoublings, a CronJob's schedule with the same period, the
// worker's image) update exactly the expected resources and properties in
// place, in the preview as in the up; a subscription filter replaces the
// subscription and every grant on it, and nothing else, and the grants are
// at Google afterwards. Each time, the next preview, refresh and preview
// find nothing to do.
func devChanges(t *testing.T, e *rehearsal.Env) {
	ctx := context.Background()
	update := []apitype.OpType{apitype.OpUpdate}
	t.Run("in place", func(t *testing.T) {
		e.Edit("dev", "        maxDoublings: 3\n", "        maxDoublings: 4\n")
		// The runbooks of the missed and overdue alerts quote the schedule.
		e.Edit("dev", `schedule: "* * * * *"`, `schedule: "*/1 * * * *"`)
		e.Edit("dev", "sample/flask:ver1\n", "sample/flask:ver2\n")
		ops := map[string][]apitype.OpType{queue: update, cron: update, missed: update, overdue: update, service: update}
		props := map[string][]string{
			queue: {"retryConfig.maxDoublings"}, cron: {"spec.schedule"},
			missed: {"documentation.content"}, overdue: {"documentation.content"},
			service: {"template.containers[0].image"},
		}
		p := e.Preview(ctx, "dev")
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		if got := changed(p.Steps); !maps.EqualFunc(got, ops, slices.Equal[[]apitype.OpType]) {
			t.Fatalf("preview: changes %v, want %v", got, ops)
		}
		if got := diffs(p.Steps); !maps.EqualFunc(got, props, slices.Equal[[]string]) {
			t.Errorf("preview: changed properties %v, want %v", got, props)
		}
		u := e.Up(ctx, "dev")
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		if got := changed(u.Steps); !maps.EqualFunc(got, ops, slices.Equal[[]apitype.OpType]) {
			t.Errorf("up: changes %v, want %v", got, ops)
		}
		noChanges(t, e, "", "dev")
	})

	t.Run("subscription filter replaces", func(t *testing.T) {
		before := inventory(t, e)
		e.Edit("dev", filterEdit[0], filterEdit[1])
		p := e.Preview(ctx, "dev")
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		// The subscription's name is fixed, so the old one goes first; the
		// grants on it go with it at Google and are created again.
		replaced := map[string]bool{sub: true, agentSub: true, pull: true}
		got := changed(p.Steps)
		for name, ops := range got {
			if !replaced[name] {
				t.Errorf("preview: %s changes (%v) but should not", name, ops)
				continue
			}
			if !slices.Contains(ops, apitype.OpReplace) && !slices.Contains(ops, apitype.OpDeleteReplaced) {
				t.Errorf("preview: %s: %v, want a replacement", name, ops)
			}
		}
		for name := range replaced {
			if _, ok := got[name]; !ok {
				t.Errorf("preview: %s is not replaced", name)
			}
		}
		if r := e.Up(ctx, "dev"); r.Err != nil {
			t.Fatal(r.Err)
		}
		noChanges(t, e, "", "dev")
		after := inventory(t, e)
		for k, grants := range before {
			if strings.Contains(k, "subscriptions/jobs-worker") && after[k] != grants {
				t.Errorf("%s: grants %q before the replacement, %q after", k, grants, after[k])
			}
		}
	})
}

// protectedReplacement finds the URNs in the engine's refusal to replace a
// protected resource.
var protectedReplacement = regexp.MustCompile(`unable to replace resource "?(urn:pulumi:[^"\s]+?)"?\s`)

// prodReplacementUnderProtection follows docs/deploying.md's way of
// replacing protected resources: in prod a subscription filter (a
// replacement) is refused by preview and up without changing anything;
// once exactly the resources to replace are unprotected, up replaces them
// and protects them again, and nothing is left to do.
func prodReplacementUnderProtection(t *testing.T, e *rehearsal.Env) {
	ctx := context.Background()
	before := inventory(t, e)
	e.Edit("prod", filterEdit[0], filterEdit[1])
	replaced := []string{sub, agentSub, pull}
	urns := map[string]string{}
	for _, r := range e.State(ctx, "", "prod") {
		if slices.Contains(replaced, short(r.URN)) {
			urns[short(r.URN)] = r.URN
			if !r.Protect {
				t.Errorf("%s is not protected in prod", r.URN)
			}
		}
	}
	if len(urns) != len(replaced) {
		t.Fatalf("found %v in prod's state, want %v", urns, replaced)
	}

	for _, r := range []*rehearsal.Run{e.Preview(ctx, "prod"), e.Up(ctx, "prod")} {
		if r.Err == nil {
			t.Fatalf("pulumi %s: a replacement of protected resources was not refused", r.Args[0])
		}
		if !strings.Contains(r.Output, "as it is currently marked for protection") || !strings.Contains(r.Output, urns[replaced[0]]) {
			t.Errorf("refused, but not for the subscription's protection: %v", r.Err)
		}
	}
	if after := inventory(t, e); !maps.Equal(before, after) {
		t.Fatalf("a refused up changed Google objects:\n%s", mapDiff(before, after))
	}

	// docs/deploying.md's way: unprotect what the refused preview names, and
	// preview again until it passes.
	var unprotected []string
	for round := 1; ; round++ {
		r := e.Preview(ctx, "prod")
		if r.Err == nil {
			break
		}
		named := protectedReplacement.FindAllStringSubmatch(r.Output, -1)
		if len(named) == 0 || round > 5 {
			t.Fatalf("preview round %d: %v", round, r.Err)
		}
		for _, m := range named {
			if slices.Contains(unprotected, m[1]) {
				continue
			}
			e.Must(ctx, "", "prod", "state", "unprotect", "--stack", "prod", "--yes", m[1])
			unprotected = append(unprotected, m[1])
		}
	}
	var got []string
	for _, u := range unprotected {
		got = append(got, short(u))
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(replaced))) {
		t.Errorf("unprotected %v, want exactly %v", got, replaced)
	}
	u := e.Up(ctx, "prod")
	if u.Err != nil {
		t.Fatal(u.Err)
	}
	for name, ops := range changed(u.Steps) {
		if !slices.Contains(replaced, name) {
			t.Errorf("up: %s changes (%v) but should not", name, ops)
		}
	}
	for _, r := range e.State(ctx, "", "prod") {
		// Every resource of the program's (the engine's default gcp
		// provider is none, and deleting a provider deletes nothing).
		if r.Custom && !strings.Contains(r.URN, "::default_") && !r.Protect {
			t.Errorf("%s is not protected after the replacement", r.URN)
		}
	}
	noChanges(t, e, "", "prod")
}
