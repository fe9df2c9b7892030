package plandiff

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// fakeProviders answers with fixed decisions and records what it was asked.
type fakeProviders struct {
	decisions map[string]ProviderDecision
	asked     map[string]ProviderChange
}

func (f *fakeProviders) Diff(_ context.Context, c ProviderChange) (ProviderDecision, error) {
	if f.asked == nil {
		f.asked = map[string]ProviderChange{}
	}
	f.asked[c.URN] = c
	d, ok := f.decisions[c.URN]
	if !ok {
		return ProviderDecision{}, errors.New("unexpected question about " + c.URN)
	}
	return d, nil
}

const (
	stackURN  = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
	topicURN  = "urn:pulumi:s::p::asyncjobs:messaging:Topic$gcp:pubsub/topic:Topic::t"
	grantURN  = "urn:pulumi:s::p::asyncjobs:messaging:Topic$gcp:pubsub/topicIAMMember:TopicIAMMember::t-grant"
	subURN    = "urn:pulumi:s::p::asyncjobs:messaging:Topic$gcp:pubsub/subscription:Subscription::t-sub"
	queueURN  = "urn:pulumi:s::p::asyncjobs:taskqueue:Queue$gcp:cloudtasks/queue:Queue::q"
	saURN     = "urn:pulumi:s::p::gcp:serviceaccount/account:Account::sa"
	metricURN = "urn:pulumi:s::p::gcp:logging/metric:Metric::m"
	provURN   = "urn:pulumi:s::p::asyncjobs:gke:Cluster$pulumi:providers:kubernetes::gke"
	nsURN     = "urn:pulumi:s::p::asyncjobs:gke:Cluster$kubernetes:core/v1:Namespace::ns"
	newURN    = "urn:pulumi:s::p::gcp:pubsub/topic:Topic::new"
)

// enginePlans: base and head of a stack where the topic's name changes
// (its grant follows it by replaceWith, its subscription takes its id), a
// protected queue is replaced, the Kubernetes provider is replaced (the
// namespace follows it), a service account only changes options, a
// retained metric and a protected account go away, and a topic is new.
func enginePlans() (base, head *recorder.Plan) {
	mk := func(topicName string, protect bool) *recorder.Plan {
		ref := provURN + "::04da6b54-80e4-46f7-96ec-b56ff0331ba9"
		return &recorder.Plan{Stack: "s", Resources: []*recorder.Resource{
			// Dependents first: a plan's order says nothing about dependencies.
			{URN: grantURN, Type: "gcp:pubsub/topicIAMMember:TopicIAMMember", Name: "t-grant", Custom: true,
				Inputs: map[string]any{"topic": recorder.Computed, "role": "roles/pubsub.publisher"}, ReplaceWith: []string{topicURN},
				PropertyDependencies: map[string][]string{"topic": {topicURN}}},
			{URN: subURN, Type: "gcp:pubsub/subscription:Subscription", Name: "t-sub", Custom: true,
				Inputs: map[string]any{"topic": recorder.Computed, "name": "sub"}, PropertyDependencies: map[string][]string{"topic": {topicURN}}},
			{URN: topicURN, Type: "gcp:pubsub/topic:Topic", Name: "t", Custom: true, Inputs: map[string]any{"name": topicName}},
			{URN: nsURN, Type: "kubernetes:core/v1:Namespace", Name: "ns", Custom: true, Provider: ref,
				Inputs: map[string]any{"metadata": map[string]any{"name": "asyncjobs"}}},
			{URN: provURN, Type: "pulumi:providers:kubernetes", Name: "gke", Custom: true, Inputs: map[string]any{"kubeconfig": topicName}},
			{URN: queueURN, Type: "gcp:cloudtasks/queue:Queue", Name: "q", Custom: true, Protect: true, DeleteBeforeReplace: true,
				Inputs: map[string]any{"name": "q-" + topicName}},
			{URN: saURN, Type: "gcp:serviceaccount/account:Account", Name: "sa", Custom: true, Protect: protect,
				Inputs: map[string]any{"accountId": "sa"}},
		}}
	}
	base, head = mk("jobs", false), mk("jobs2", true)
	base.Resources = append(base.Resources,
		&recorder.Resource{URN: metricURN, Type: "gcp:logging/metric:Metric", Name: "m", Custom: true, RetainOnDelete: true, Inputs: map[string]any{"name": "m"}},
		&recorder.Resource{URN: "urn:pulumi:s::p::gcp:serviceaccount/account:Account::old", Type: "gcp:serviceaccount/account:Account", Name: "old",
			Custom: true, Protect: true, Inputs: map[string]any{"accountId": "old"}},
	)
	head.Resources = append(head.Resources,
		&recorder.Resource{URN: newURN, Type: "gcp:pubsub/topic:Topic", Name: "new", Custom: true, Inputs: map[string]any{"name": "new"}})
	return base, head
}

func engineProviders() *fakeProviders {
	return &fakeProviders{decisions: map[string]ProviderDecision{
		topicURN: {Changed: true, Replaces: []string{"name"}, DeleteBeforeReplace: true},
		subURN:   {Changed: true, Replaces: []string{"topic"}},
		queueURN: {Changed: true, Replaces: []string{"name"}},
		provURN:  {Changed: true, Replaces: []string{"kubeconfig"}},
	}}
}

func classified(t *testing.T) (*Diff, *fakeProviders) {
	t.Helper()
	base, head := enginePlans()
	d := Compute(base, head, Options{})
	p := engineProviders()
	if err := d.Classify(context.Background(), base, head, p); err != nil {
		t.Fatal(err)
	}
	return d, p
}

func byName(d *Diff) map[string]Resource {
	out := map[string]Resource{}
	for _, rs := range [][]Resource{d.Added, d.Removed, d.Changed} {
		for _, r := range rs {
			out[r.Name] = r
		}
	}
	return out
}

// TestClassifyEngineRules: the engine's rules around the providers'
// answers, with fixed answers.
func TestClassifyEngineRules(t *testing.T) {
	d, p := classified(t)
	got := byName(d)
	for name, want := range map[string]string{
		"t":       "replace (delete-before-replace)",
		"t-grant": "replace (create-before-delete)",                     // replaceWith the topic; nobody asks its provider
		"t-sub":   "replace (create-before-delete)",                     // its topic is unknown now
		"q":       "replace (delete-before-replace), refused (protect)", // the option overrules the provider
		"gke":     "replace (create-before-delete)",
		"ns":      "replace (create-before-delete)", // its provider is replaced
		"sa":      "same",                           // protect only: no provider call
		"m":       "delete, the old one left in the cloud (retainOnDelete)",
		"old":     "delete, refused (protect)",
		"new":     "create",
	} {
		if r, ok := got[name]; !ok || r.Verdict() != want {
			t.Errorf("%s: %q (%s), want %q", name, r.Verdict(), r.Because, want)
		}
	}
	if _, asked := p.asked[grantURN]; asked {
		t.Error("the provider was asked about a resource replaced by replaceWith")
	}
	if _, asked := p.asked[saURN]; asked {
		t.Error("the provider was asked about a resource whose inputs are the same")
	}
	if c := p.asked[subURN]; !slices.Equal(c.Unknown, []string{"topic"}) {
		t.Errorf("the subscription was asked with unknown %v, want [topic]", c.Unknown)
	}
	if got["t-grant"].Because != "`gcp:pubsub/topic:Topic::t` is replaced (replaceWith)" ||
		got["ns"].Because != "its provider `pulumi:providers:kubernetes::gke` is replaced" ||
		!strings.Contains(got["t-sub"].Because, "`topic` forces a replacement") {
		t.Errorf("reasons: grant %q, ns %q, sub %q", got["t-grant"].Because, got["ns"].Because, got["t-sub"].Because)
	}
	// Replacements among resources whose own inputs are the same are
	// listed as changed, and no longer counted as unchanged.
	if len(d.Changed) != 7 || d.Unchanged != 0 {
		t.Errorf("changed %d, unchanged %d; want 7 and 0", len(d.Changed), d.Unchanged)
	}
	var risky []string
	for _, r := range d.AtRisk() {
		risky = append(risky, r.Name+": "+r.Holds)
	}
	want := []string{"q: queued tasks", "t: messages", "t-sub: unacknowledged messages", "ns: every object in it", "m: metric history",
		"old: identity and its grants"}
	slices.Sort(risky)
	slices.Sort(want)
	if !slices.Equal(risky, want) {
		t.Errorf("at risk %v, want %v", risky, want)
	}
	n := d.Count()
	if n[Create] != 1 || n[Delete] != 2 || n[Replace] != 6 || n[Update] != 0 || n[Same] != 1 {
		t.Errorf("counts %v", n)
	}
}

// TestClassifiedMarkdown: the flagged list opens the rendering, and each
// resource carries its action.
func TestClassifiedMarkdown(t *testing.T) {
	d, _ := classified(t)
	d.BaseLabel, d.HeadLabel = "`base`", "`head`"
	var md bytes.Buffer
	if err := d.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	golden(t, "classified.md", md.Bytes())
	flagged := strings.Index(out, "#### Replaced or deleted, holding data or identity (6)")
	if flagged < 0 || flagged > strings.Index(out, "to add") {
		t.Errorf("the flagged list is not at the top:\n%s", out)
	}
	for _, want := range []string{
		"- `gcp:cloudtasks/queue:Queue` **q** (queued tasks): **replace** (delete-before-replace), refused (protect): `name` forces a replacement",
		"<b>old</b>: delete, refused (protect)</summary>",
		"`gcp:serviceaccount/account:Account` **sa**: **same**: only options or relations change",
		"**1 to create, 0 to update, 6 to replace, 2 to delete**, 1 the same",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendering lacks %q:\n%s", want, out)
		}
	}

	// Nothing at risk is said too.
	base, head := enginePlans()
	base.Resources, head.Resources = base.Resources[6:7], head.Resources[6:7]
	d = Compute(base, head, Options{})
	if err := d.Classify(context.Background(), base, head, nil); err != nil {
		t.Fatal(err)
	}
	md.Reset()
	if err := d.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "No resource that holds data or identity is replaced or deleted.") {
		t.Errorf("no-risk rendering:\n%s", md.String())
	}
}

// TestClassifyProviderError: a provider that cannot answer fails the
// classification, naming the resource.
func TestClassifyProviderError(t *testing.T) {
	base, head := enginePlans()
	d := Compute(base, head, Options{})
	err := d.Classify(context.Background(), base, head, &fakeProviders{})
	if err == nil || !strings.Contains(err.Error(), "unexpected question") {
		t.Errorf("Classify with a failing provider: %v", err)
	}
}

func TestHoldsData(t *testing.T) {
	for _, typ := range []string{
		"gcp:pubsub/topic:Topic", "gcp:pubsub/subscription:Subscription", "gcp:cloudtasks/queue:Queue",
		"gcp:serviceaccount/account:Account", "gcp:container/cluster:Cluster", "kubernetes:core/v1:Namespace",
		"gcp:logging/metric:Metric",
	} {
		if what, ok := HoldsData(typ); !ok || what == "" {
			t.Errorf("HoldsData(%s) = %q, %v", typ, what, ok)
		}
	}
	for _, typ := range []string{"gcp:pubsub/topicIAMMember:TopicIAMMember", "kubernetes:apps/v1:Deployment", "pulumi:providers:kubernetes", ""} {
		if what, ok := HoldsData(typ); ok {
			t.Errorf("HoldsData(%s) = %q, true", typ, what)
		}
	}
}
