package plandiff

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/providerdiff"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
)

// realProviders asks the real plugins, as cmd/plandiff does.
type realProviders struct{ set *providerdiff.Set }

func (p realProviders) Diff(ctx context.Context, c ProviderChange) (ProviderDecision, error) {
	r, err := p.set.Diff(ctx, providerdiff.Change{URN: c.URN, Olds: c.Olds, News: c.News, Unknown: c.Unknown})
	return ProviderDecision{Changed: r.Changed, Replaces: r.Replaces, DeleteBeforeReplace: r.DeleteBeforeReplace}, err
}

func copyPlan(t *testing.T, p *recorder.Plan) *recorder.Plan {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var c recorder.Plan
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// setInput sets the input at a dotted path of a plan's resource.
func setInput(t *testing.T, p *recorder.Plan, typ, name, path string, v any) {
	t.Helper()
	r := p.Find(typ, name)
	if r == nil {
		t.Fatalf("no %s %s", typ, name)
	}
	keys := strings.Split(path, ".")
	cur := r.Inputs
	for _, k := range keys[:len(keys)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("%s %s: no object at %s", typ, name, k)
		}
		cur = next
	}
	cur[keys[len(keys)-1]] = v
}

func drop(p *recorder.Plan, typ, name string) {
	for i, r := range p.Resources {
		if r.Type == typ && r.Name == name {
			p.Resources = append(p.Resources[:i], p.Resources[i+1:]...)
			return
		}
	}
}

// TestRealProviders: Pulumi.dev.yaml recorded, changed one way per case, and
// classified by the real gcp and Kubernetes provider plugins.
func TestRealProviders(t *testing.T) {
	plugins := map[string]string{
		"gcp":        toolcache.Path(t, "pulumi-resource-gcp"),
		"kubernetes": toolcache.Path(t, "pulumi-resource-kubernetes"),
	}
	set := providerdiff.New(providerdiff.Options{
		Binary: func(pkg string) (string, error) {
			if p, ok := plugins[pkg]; ok {
				return p, nil
			}
			return "", errors.New("no plugin for " + pkg)
		},
		Config:       map[string]map[string]string{"gcp": {"project": "asyncjobs-test", "accessToken": "offline"}},
		Placeholders: []string{recorder.Computed, recorder.Secret, Blinded},
	})
	defer set.Close()
	dev := recordFile(t, "../../../Pulumi.dev.yaml")

	const (
		sub       = "gcp:pubsub/subscription:Subscription"
		topic     = "gcp:pubsub/topic:Topic"
		queue     = "gcp:cloudtasks/queue:Queue"
		deploy    = "kubernetes:apps/v1:Deployment"
		cronjob   = "kubernetes:batch/v1:CronJob"
		member    = "gcp:pubsub/topicIAMMember:TopicIAMMember"
		subMember = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
		worker    = "topic-jobs-jobs-worker"
		deadSub   = "topic-jobs-jobs-worker-dl"
		deadPub   = "topic-jobs-jobs-worker-dl-agent-publisher"
		deadTopic = "topic-jobs-jobs-worker-dl"
	)
	// What a subscription's replacement takes along: every grant on it
	// (replaceWith).
	grants := map[string]string{
		subMember + " topic-jobs-jobs-worker-dl-agent-subscriber": "replace (create-before-delete)",
		subMember + " subscriber-jobs-subscriber-pull":            "replace (create-before-delete)",
	}
	for _, tc := range []struct {
		name     string
		change   func(t *testing.T, base, head *recorder.Plan)
		typ, res string
		want     string // Resource.Verdict
		flagged  bool
		// also are the other resources the change reaches ("type name":
		// verdict); every other resource stays the same.
		also map[string]string
	}{
		{name: "subscription filter", typ: sub, res: worker, want: "replace (delete-before-replace)", flagged: true, also: grants,
			change: func(t *testing.T, _, head *recorder.Plan) {
				setInput(t, head, sub, worker, "filter", `attributes.kind = "report"`)
			}},
		{name: "subscription ack deadline", typ: sub, res: worker, want: "update",
			change: func(t *testing.T, _, head *recorder.Plan) {
				setInput(t, head, sub, worker, "ackDeadlineSeconds", 120)
			}},
		{name: "topic name", typ: topic, res: deadTopic, want: "replace (delete-before-replace)", flagged: true,
			also: map[string]string{
				member + " " + deadPub: "replace (create-before-delete)",  // replaceWith
				sub + " " + deadSub:    "replace (delete-before-replace)", // its topic is replaced
				sub + " " + worker:     "update",                          // its dead-letter topic changes in place
			},
			change: func(t *testing.T, _, head *recorder.Plan) {
				setInput(t, head, topic, deadTopic, "name", "jobs-worker-dead-letters")
			}},
		{name: "queue retry", typ: queue, res: "queue-sample-queue", want: "update",
			change: func(t *testing.T, _, head *recorder.Plan) {
				setInput(t, head, queue, "queue-sample-queue", "retryConfig.maxDoublings", 5)
			}},
		{name: "deployment selector", typ: deploy, res: "subscriber-jobs-subscriber", want: "replace (delete-before-replace)",
			change: func(t *testing.T, _, head *recorder.Plan) {
				setInput(t, head, deploy, "subscriber-jobs-subscriber", "spec.selector.matchLabels", map[string]any{"app.kubernetes.io/name": "other"})
			}},
		{name: "cronjob schedule", typ: cronjob, res: "cronjob-indexed-echo", want: "update",
			change: func(t *testing.T, _, head *recorder.Plan) {
				setInput(t, head, cronjob, "cronjob-indexed-echo", "spec.schedule", "17 3 * * *")
			}},
		{name: "dead-letter subscription only in base", typ: sub, res: deadSub, want: "delete", flagged: true,
			change: func(_ *testing.T, _, head *recorder.Plan) { drop(head, sub, deadSub) }},
		{name: "grant only in base", typ: member, res: deadPub, want: "delete",
			change: func(_ *testing.T, _, head *recorder.Plan) { drop(head, member, deadPub) }},
		{name: "protected subscription replaced", typ: sub, res: worker, want: "replace (delete-before-replace), refused (protect)", flagged: true, also: grants,
			change: func(t *testing.T, base, head *recorder.Plan) {
				base.Find(sub, worker).Protect = true
				head.Find(sub, worker).Protect = true
				setInput(t, head, sub, worker, "filter", `attributes.kind = "report"`)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, head := copyPlan(t, dev), copyPlan(t, dev)
			tc.change(t, base, head)
			d := Compute(base, head, Options{})
			if err := d.Classify(context.Background(), base, head, realProviders{set}); err != nil {
				t.Fatal(err)
			}
			got := map[string]Resource{}
			for _, rs := range [][]Resource{d.Added, d.Removed, d.Changed} {
				for _, r := range rs {
					got[r.Type+" "+r.Name] = r
				}
			}
			r, ok := got[tc.typ+" "+tc.res]
			if !ok || r.Verdict() != tc.want {
				t.Errorf("%s %s: %q (%s), want %q", tc.typ, tc.res, r.Verdict(), r.Because, tc.want)
			}
			for key, want := range tc.also {
				if a, ok := got[key]; !ok || a.Verdict() != want {
					t.Errorf("%s: %q (%s), want %q", key, a.Verdict(), a.Because, want)
				}
			}
			flagged := false
			for _, a := range d.AtRisk() {
				flagged = flagged || (a.Type == tc.typ && a.Name == tc.res)
			}
			if flagged != tc.flagged {
				t.Errorf("flagged %v, want %v (at risk: %v)", flagged, tc.flagged, names(d.AtRisk()))
			}
			// Nothing else changes.
			for key, other := range got {
				if _, ok := tc.also[key]; ok || key == tc.typ+" "+tc.res {
					continue
				}
				t.Errorf("%s: %s (%s), want no change", key, other.Verdict(), other.Because)
			}
		})
	}
	if started := set.Started(); len(started) != 2 {
		t.Errorf("plugins started: %v, want gcp and kubernetes once each", started)
	}
}
