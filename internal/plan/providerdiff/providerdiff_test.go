package providerdiff

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
	"github.com/asyncjobs/asyncjobs/stacks"
)

var (
	devOnce sync.Once
	dev     *recorder.Plan
	devErr  error
)

// devPlan records Pulumi.dev.yaml as make plan does: the resources the
// tests change are the program's own.
func devPlan(t *testing.T) *recorder.Plan {
	t.Helper()
	devOnce.Do(func() {
		st, err := stackfile.Load("../../..", "dev")
		if err != nil {
			devErr = err
			return
		}
		dev, devErr = recorder.Run(stacks.Program, recorder.Options{
			Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys, Preview: true,
		})
	})
	if devErr != nil {
		t.Fatal(devErr)
	}
	return dev
}

// inputs returns a deep copy of a dev resource's inputs and its URN.
func inputs(t *testing.T, typ, name string) (string, map[string]any) {
	t.Helper()
	r := devPlan(t).Find(typ, name)
	if r == nil {
		t.Fatalf("dev has no %s %s", typ, name)
	}
	b, err := json.Marshal(r.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return r.URN, m
}

// set sets path (dotted) in m to v.
func set(t *testing.T, m map[string]any, path string, v any) map[string]any {
	t.Helper()
	keys := strings.Split(path, ".")
	cur := m
	for _, k := range keys[:len(keys)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("no object at %s in %v", k, cur)
		}
		cur = next
	}
	cur[keys[len(keys)-1]] = v
	return m
}

// realSet is a Set of the real plugins, counting how often each binary is
// looked up.
func realSet(t *testing.T) (*Set, *sync.Map) {
	t.Helper()
	paths := map[string]string{
		"gcp":        toolcache.Path(t, "pulumi-resource-gcp"),
		"kubernetes": toolcache.Path(t, "pulumi-resource-kubernetes"),
	}
	lookups := &sync.Map{}
	s := New(Options{
		Binary: func(pkg string) (string, error) {
			n, _ := lookups.LoadOrStore(pkg, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			p, ok := paths[pkg]
			if !ok {
				return "", errors.New("no plugin for " + pkg)
			}
			return p, nil
		},
		Config:       map[string]map[string]string{"gcp": {"project": "asyncjobs-dev", "accessToken": "offline"}},
		Placeholders: []string{recorder.Computed, recorder.Secret},
	})
	t.Cleanup(s.Close)
	return s, lookups
}

const (
	subscription = "gcp:pubsub/subscription:Subscription"
	deployment   = "kubernetes:apps/v1:Deployment"
)

// TestPlaceholders: the real gcp provider on dev's worker subscription,
// whose topic and dead-letter topic are "<computed>" in the plan. Equal
// placeholders are equal; a placeholder from a replaced resource is
// unknown, which replaces the subscription (its topic cannot change in
// place); a value known in base and a placeholder in head is unknown too.
func TestPlaceholders(t *testing.T) {
	s, _ := realSet(t)
	ctx := context.Background()
	urn, base := inputs(t, subscription, "topic-jobs-jobs-worker")
	if base["topic"] != recorder.Computed {
		t.Fatalf("dev's subscription topic is %v, want %q", base["topic"], recorder.Computed)
	}
	_, head := inputs(t, subscription, "topic-jobs-jobs-worker")

	r, err := s.Diff(ctx, Change{URN: urn, Olds: base, News: head})
	if err != nil || r.Changed {
		t.Errorf("same inputs with placeholders: %+v, %v; want no change", r, err)
	}
	r, err = s.Diff(ctx, Change{URN: urn, Olds: base, News: head, Unknown: []string{"topic"}})
	if err != nil || !r.Replace() || !slices.Contains(r.Replaces, "topic") {
		t.Errorf("topic from a replaced topic: %+v, %v; want a replacement forced by topic", r, err)
	}
	_, known := inputs(t, subscription, "topic-jobs-jobs-worker")
	set(t, known, "topic", "projects/asyncjobs-dev/topics/jobs")
	r, err = s.Diff(ctx, Change{URN: urn, Olds: known, News: head})
	if err != nil || !r.Replace() {
		t.Errorf("a known topic becoming a placeholder: %+v, %v; want a replacement", r, err)
	}
}

// TestKubernetesOffline: the real Kubernetes provider without a cluster
// still diffs and knows its immutable fields (a Deployment's selector), and
// it really has no cluster: a real create is refused as unreachable.
func TestKubernetesOffline(t *testing.T) {
	s, _ := realSet(t)
	ctx := context.Background()
	urn, base := inputs(t, deployment, "subscriber-jobs-subscriber")
	_, head := inputs(t, deployment, "subscriber-jobs-subscriber")
	set(t, head, "spec.selector.matchLabels", map[string]any{"app.kubernetes.io/name": "other"})
	r, err := s.Diff(ctx, Change{URN: urn, Olds: base, News: head})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Replace() || !r.DeleteBeforeReplace || !slices.ContainsFunc(r.Replaces, func(p string) bool { return strings.HasPrefix(p, "spec.selector") }) {
		t.Errorf("selector change: %+v; want a delete-before-replace replacement forced by spec.selector", r)
	}

	p, err := s.plugin(ctx, "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	props, err := marshal("test", s.properties(head))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.client.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Name: resource.URN(urn).Name(), Type: deployment, Properties: props})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("a real create: %v; want the provider's cluster-unreachable error", err)
	}
}

// TestStartedOnce: many concurrent diffs start each plugin once, only the
// plugins needed; after Close nothing runs and Diff refuses.
func TestStartedOnce(t *testing.T) {
	s, lookups := realSet(t)
	ctx := context.Background()
	if got := s.Started(); len(got) != 0 {
		t.Fatalf("started before any diff: %v", got)
	}
	urn, in := inputs(t, subscription, "topic-jobs-jobs-worker")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Diff(ctx, Change{URN: urn, Olds: in, News: in})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := s.Started(); !slices.Equal(got, []string{"gcp"}) {
		t.Errorf("started %v, want only gcp", got)
	}
	n, _ := lookups.Load("gcp")
	if n == nil || n.(*atomic.Int32).Load() != 1 {
		t.Errorf("the gcp plugin was looked up %v times, want once", n)
	}
	p, err := s.plugin(ctx, "gcp")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-p.done:
	default:
		t.Error("the gcp plugin still runs after Close")
	}
	if _, err := s.Diff(ctx, Change{URN: urn, Olds: in, News: in}); !errors.Is(err, errClosed) {
		t.Errorf("Diff after Close: %v", err)
	}
}

// TestMissingPlugin: a package whose plugin is missing fails every diff
// with the lookup's own message, and nothing is started.
func TestMissingPlugin(t *testing.T) {
	s := New(Options{Binary: func(pkg string) (string, error) {
		return "", errors.New("pulumi-resource-" + pkg + " is not installed: run `scripts/tools.sh ensure pulumi-resource-" + pkg + "`")
	}})
	defer s.Close()
	_, err := s.Diff(context.Background(), Change{URN: "urn:pulumi:dev::p::gcp:pubsub/topic:Topic::t", Olds: map[string]any{}, News: map[string]any{"name": "x"}})
	if err == nil || !strings.Contains(err.Error(), "scripts/tools.sh ensure pulumi-resource-gcp") {
		t.Errorf("Diff without the plugin: %v", err)
	}
	if got := s.Started(); len(got) != 0 {
		t.Errorf("started %v", got)
	}
	if _, err := s.Diff(context.Background(), Change{URN: "not-a-urn"}); err == nil {
		t.Error("a malformed URN was diffed")
	}
}

// TestSettle: how placeholders reach Diff, case by case.
func TestSettle(t *testing.T) {
	s := New(Options{Placeholders: []string{recorder.Computed}})
	computed := resource.MakeComputed(resource.NewStringProperty(""))
	for _, tc := range []struct {
		name             string
		old, new         any
		unknown          bool
		wantOld, wantNew resource.PropertyValue
	}{
		{"equal placeholders", recorder.Computed, recorder.Computed, false, placeholderBoth, placeholderBoth},
		{"placeholders from a replaced resource", recorder.Computed, recorder.Computed, true, placeholderOld, computed},
		{"placeholder only in head", "a", recorder.Computed, false, resource.NewStringProperty("a"), computed},
		{"placeholder only in base", recorder.Computed, "a", false, placeholderOld, resource.NewStringProperty("a")},
		{"nested", map[string]any{"x": []any{recorder.Computed}}, map[string]any{"x": []any{recorder.Computed, "b"}}, false,
			resource.NewObjectProperty(resource.PropertyMap{"x": resource.NewArrayProperty([]resource.PropertyValue{placeholderBoth})}),
			resource.NewObjectProperty(resource.PropertyMap{"x": resource.NewArrayProperty([]resource.PropertyValue{
				placeholderBoth, resource.NewStringProperty("b")})})},
	} {
		var unknown map[resource.PropertyKey]bool
		if tc.unknown {
			unknown = map[resource.PropertyKey]bool{"k": true}
		}
		o, n := settleMap(s.properties(map[string]any{"k": tc.old}), s.properties(map[string]any{"k": tc.new}), unknown)
		if !o["k"].DeepEquals(tc.wantOld) || !n["k"].DeepEquals(tc.wantNew) {
			t.Errorf("%s: got %v -> %v, want %v -> %v", tc.name, o["k"], n["k"], tc.wantOld, tc.wantNew)
		}
		if n["k"].ContainsUnknowns() != tc.wantNew.ContainsUnknowns() || o["k"].ContainsUnknowns() {
			t.Errorf("%s: unknowns old %v new %v", tc.name, o["k"].ContainsUnknowns(), n["k"].ContainsUnknowns())
		}
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]int{"12345\n": 12345, "\x1b]9;4;3;\x1b\\4242\x1b]9;4;0;\x1b\\\n": 4242} {
		if got, err := parsePort(in); err != nil || got != want {
			t.Errorf("parsePort(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "port 1\n", "0\n", "70000\n"} {
		if _, err := parsePort(in); err == nil {
			t.Errorf("parsePort(%q) succeeded", in)
		}
	}
}

func TestPackage(t *testing.T) {
	for typ, want := range map[string][2]any{
		"gcp:pubsub/topic:Topic":        {"gcp", false},
		"kubernetes:apps/v1:Deployment": {"kubernetes", false},
		"pulumi:providers:kubernetes":   {"kubernetes", true},
	} {
		if pkg, prov := Package(typ); pkg != want[0] || prov != want[1] {
			t.Errorf("Package(%s) = %s, %v", typ, pkg, prov)
		}
	}
}
