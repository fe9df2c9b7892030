package rehearsal_test

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/asyncjobs/asyncjobs/internal/rehearsal"
)

// short names a URN by its own type and logical name.
func short(urn string) string {
	parts := strings.SplitN(urn, "::", 4)
	if len(parts) != 4 {
		return urn
	}
	typ := parts[2]
	if i := strings.LastIndex(typ, "$"); i >= 0 {
		typ = typ[i+1:]
	}
	return typ + "::" + parts[3]
}

// changed maps the short names of the changed resources to their ops.
func changed(steps *rehearsal.Steps) map[string][]apitype.OpType {
	out := map[string][]apitype.OpType{}
	for urn, ops := range steps.Changed() {
		out[short(urn)] = ops
	}
	return out
}

// diffs returns, by short name, the property paths an update or replace
// changes (the detailed diff; the top-level keys where a provider gives
// no detail).
func diffs(steps *rehearsal.Steps) map[string][]string {
	out := map[string][]string{}
	for _, st := range steps.All() {
		if st.Op == apitype.OpSame || st.Op == apitype.OpRead || st.Op == apitype.OpRefresh {
			continue
		}
		paths := slices.Sorted(maps.Keys(st.Detailed))
		if len(paths) == 0 {
			paths = slices.Sorted(slices.Values(st.Diffs))
		}
		out[short(st.URN)] = paths
	}
	return out
}

// TestDevChanges: on a deployed dev stack, one configuration change
// updates exactly the expected resources and properties in place; a change
// Google cannot make in place (a subscription filter) replaces the
// subscription and every grant on it, and nothing else; each time the
// next preview and refresh find nothing to do.
func TestDevChanges(t *testing.T) {
	e := rehearsal.Start(t)
	ctx := context.Background()
	s := e.Stack(ctx, "dev")
	up(t, e, s)

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
	update := []apitype.OpType{apitype.OpUpdate}
	for _, tc := range []struct {
		name     string
		old, new string
		ops      map[string][]apitype.OpType
		keys     map[string][]string
	}{
		{
			name: "queue maxDoublings", old: "        maxDoublings: 3\n", new: "        maxDoublings: 4\n",
			ops: map[string][]apitype.OpType{queue: update}, keys: map[string][]string{queue: {"retryConfig.maxDoublings"}},
		},
		{
			// The same period, so the overdue alert's window stays; the
			// runbooks of the missed and overdue alerts quote the schedule.
			name: "CronJob schedule", old: `schedule: "* * * * *"`, new: `schedule: "*/1 * * * *"`,
			ops:  map[string][]apitype.OpType{cron: update, missed: update, overdue: update},
			keys: map[string][]string{cron: {"spec.schedule"}, missed: {"documentation.content"}, overdue: {"documentation.content"}},
		},
		{
			name: "worker image", old: "sample/flask:ver1\n", new: "sample/flask:ver2\n",
			ops: map[string][]apitype.OpType{service: update}, keys: map[string][]string{service: {"template.containers[0].image"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Edit("dev", tc.old, tc.new)
			p := preview(t, e, s)
			if got := changed(p); !maps.EqualFunc(got, tc.ops, slices.Equal[[]apitype.OpType]) {
				t.Fatalf("preview: changes %v, want %v", got, tc.ops)
			}
			if got := diffs(p); !maps.EqualFunc(got, tc.keys, slices.Equal[[]string]) {
				t.Errorf("preview: changed properties %v, want %v", got, tc.keys)
			}
			if got := changed(up(t, e, s)); !maps.EqualFunc(got, tc.ops, slices.Equal[[]apitype.OpType]) {
				t.Errorf("up: changes %v, want %v", got, tc.ops)
			}
			noChanges(t, e, s)
		})
	}

	t.Run("subscription filter replaces", func(t *testing.T) {
		before := google(t, e)
		e.Edit("dev", "        - name: jobs-worker\n", "        - name: jobs-worker\n          filter: attributes.kind = \"report\"\n")
		p := preview(t, e, s)
		// The subscription's name is fixed, so the old one goes first; the
		// grants on it go with it at Google and are created again.
		replaced := map[string]bool{sub: true, agentSub: true, pull: true}
		for name, ops := range changed(p) {
			if !replaced[name] {
				t.Errorf("preview: %s changes (%v) but should not", name, ops)
				continue
			}
			if !slices.Contains(ops, apitype.OpReplace) && !slices.Contains(ops, apitype.OpDeleteReplaced) {
				t.Errorf("preview: %s: %v, want a replacement", name, ops)
			}
		}
		for name := range replaced {
			if _, ok := changed(p)[name]; !ok {
				t.Errorf("preview: %s is not replaced", name)
			}
		}
		up(t, e, s)
		noChanges(t, e, s)
		after := google(t, e)
		for k := range before {
			if strings.Contains(k, "jobs-worker") && strings.Contains(k, "IAMMember") {
				if _, ok := after[k]; !ok {
					t.Errorf("grant %s is gone after the replacement", k)
				}
			}
		}
	})

	if _, err := s.Destroy(ctx, optdestroy.Remove()); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

// TestProdReplacementUnderProtection follows docs/deploying.md's way of
// replacing protected resources: in prod a subscription filter (a replacement) is
// refused by preview and up without changing anything; once exactly the
// resources to replace are unprotected, up replaces them and protects them
// again, and nothing is left to do.
// protectedReplacement finds the URNs in the engine's refusal to replace a
// protected resource.
var protectedReplacement = regexp.MustCompile(`unable to replace resource \\?"(urn:pulumi:[^"\\]+)`)

func TestProdReplacementUnderProtection(t *testing.T) {
	e := rehearsal.Start(t)
	ctx := context.Background()
	s := e.Stack(ctx, "prod")
	up(t, e, s)
	before := google(t, e)

	e.Edit("prod", "        - name: jobs-worker\n", "        - name: jobs-worker\n          filter: attributes.kind = \"report\"\n")
	replaced := []string{
		"gcp:pubsub/subscription:Subscription::topic-jobs-jobs-worker",
		"gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember::topic-jobs-jobs-worker-dl-agent-subscriber",
		"gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember::subscriber-jobs-subscriber-pull",
	}
	urns := map[string]string{}
	for _, r := range state(t, s) {
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

	_, perr := s.Preview(ctx)
	_, uerr := s.Up(ctx)
	for _, err := range []error{perr, uerr} {
		if err == nil {
			t.Fatal("a replacement of protected resources was not refused")
		}
		if !strings.Contains(err.Error(), "as it is currently marked for protection") || !strings.Contains(err.Error(), urns[replaced[0]]) {
			t.Errorf("refused, but not for the subscription's protection: %v", err)
		}
	}
	if after := google(t, e); !maps.Equal(before, after) {
		t.Fatalf("a refused up changed Google objects:\n%s", diffLines(keys(before), keys(after)))
	}

	// docs/deploying.md's way: unprotect what the refused preview names, and
	// preview again until it passes.
	var unprotected []string
	for round := 1; ; round++ {
		_, err := s.Preview(ctx)
		if err == nil {
			break
		}
		named := protectedReplacement.FindAllStringSubmatch(err.Error(), -1)
		if len(named) == 0 || round > 5 {
			t.Fatalf("preview round %d: %v", round, err)
		}
		for _, m := range named {
			if slices.Contains(unprotected, m[1]) {
				continue
			}
			if _, err := e.CLI(ctx, "state", "unprotect", "--stack", "prod", "--yes", m[1]); err != nil {
				t.Fatal(err)
			}
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
	steps := up(t, e, s)
	for name, ops := range changed(steps) {
		if !slices.Contains(replaced, name) {
			t.Errorf("up: %s changes (%v) but should not", name, ops)
		}
	}
	for _, r := range state(t, s) {
		// Every resource of the program's (the engine's default gcp
		// provider is none, and deleting a provider deletes nothing).
		if r.Custom && !strings.Contains(r.URN, "::default_") && !r.Protect {
			t.Errorf("%s is not protected after the replacement", r.URN)
		}
	}
	noChanges(t, e, s)
}
