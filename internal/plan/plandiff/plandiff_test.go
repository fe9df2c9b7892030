package plandiff

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// record plans testdata/<fixture> as stack "test" of the repository's
// project, the way cmd/plan does.
func record(t *testing.T, fixture string) *recorder.Plan {
	t.Helper()
	return recordFile(t, filepath.Join("testdata", fixture))
}

// recordFile plans the stack file at path as stack "test".
func recordFile(t *testing.T, path string) *recorder.Plan {
	t.Helper()
	fixture := filepath.Base(path)
	dir := t.TempDir()
	project, err := os.ReadFile("../../../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stackFile, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.test.yaml"), stackFile, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := stackfile.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := recorder.Run(stacks.Program, recorder.Options{
		Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys, Preview: true,
	})
	if err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	return plan
}

func find(rs []Resource, typ, name string) *Resource {
	for i := range rs {
		if rs[i].Type == typ && rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

func prop(r *Resource, path string) *Property {
	for i := range r.Properties {
		if r.Properties[i].Path == path {
			return &r.Properties[i]
		}
	}
	return nil
}

// TestTwoRevisions diffs the plans of two revisions of a stack file.
func TestTwoRevisions(t *testing.T) {
	base, head := record(t, "Pulumi.base.yaml"), record(t, "Pulumi.head.yaml")
	d := Compute(base, head, Options{SecretKeys: DefaultSecretKeys})
	d.BaseLabel, d.HeadLabel = "`base`", "`head`"
	if !d.HasChanges() {
		t.Fatal("no changes found between the two revisions")
	}

	// The new topic and its worker-less companions are added; nothing is removed.
	if r := find(d.Added, "gcp:pubsub/topic:Topic", "topic-audit"); r == nil {
		t.Errorf("topic-audit not among the added resources: %v", names(d.Added))
	} else if p := prop(r, "name"); p == nil || p.New != `"audit"` || p.HasOld {
		t.Errorf("topic-audit name property = %+v", p)
	}
	if len(d.Removed) != 0 {
		t.Errorf("removed: %v, want none", names(d.Removed))
	}

	worker := find(d.Changed, "gcp:cloudrunv2/service:Service", "worker")
	if worker == nil {
		t.Fatalf("worker service not changed: %v", names(d.Changed))
	}
	for path, want := range map[string][2]string{
		"template.scaling.maxInstanceCount": {"1", "3"},
		"template.containers.0.image":       {`"asia-docker.pkg.dev/asyncjobs-test/sample/worker:v1"`, `"asia-docker.pkg.dev/asyncjobs-test/sample/worker:v2"`},
	} {
		p := prop(worker, path)
		if p == nil || p.Old != want[0] || p.New != want[1] {
			t.Errorf("worker %s = %+v, want %s -> %s", path, p, want[0], want[1])
		}
	}
	// The label went away: absent on the head side.
	if p := prop(worker, "labels.environment"); p == nil || !p.HasOld || p.HasNew {
		t.Errorf("worker labels.environment = %+v, want removed", p)
	}
	queue := find(d.Changed, "gcp:cloudtasks/queue:Queue", "queue-sample-queue")
	if queue == nil {
		t.Fatalf("queue not changed: %v", names(d.Changed))
	}
	if p := prop(queue, "retryConfig.maxAttempts"); p == nil || p.Old != "10" || p.New != "5" {
		t.Errorf("queue retryConfig.maxAttempts = %+v", p)
	}
	// Unchanged resources are counted, not listed.
	if find(d.Changed, "gcp:projects/service:Service", "apis-run") != nil || d.Unchanged == 0 {
		t.Errorf("unchanged resources listed as changed (unchanged count %d)", d.Unchanged)
	}
	// The new topic shows in the stack outputs.
	found := false
	for _, p := range d.Outputs {
		if strings.HasPrefix(p.Path, "topics.audit") && p.HasNew && !p.HasOld {
			found = true
		}
	}
	if !found {
		t.Errorf("stack outputs lack topics.audit: %+v", d.Outputs)
	}

	var md bytes.Buffer
	if err := d.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	golden(t, "two-revisions.md", md.Bytes())

	// The same plan twice: nothing to report.
	same := Compute(head, head, Options{})
	if same.HasChanges() {
		t.Errorf("a plan differs from itself: %+v", same)
	}
	md.Reset()
	if err := same.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**No changes**") {
		t.Errorf("no-change rendering:\n%s", md.String())
	}
}

func names(rs []Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Type+" "+r.Name)
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/plan/plandiff -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (go test ./internal/plan/plandiff -update rewrites it); got:\n%s", path, got)
	}
}

// TestSecretsNeverPrinted: secret values, blinded configuration values and
// properties under secret keys are masked on both sides, nested or not.
func TestSecretsNeverPrinted(t *testing.T) {
	res := func(inputs map[string]any) *recorder.Plan {
		return &recorder.Plan{Stack: "s", Resources: []*recorder.Resource{{
			URN: "urn:pulumi:s::p::t:m:R::r", Type: "t:m:R", Name: "r", Custom: true, Inputs: inputs,
		}}, Outputs: map[string]any{"conn": recorder.Secret, "db": map[string]any{"password": inputs["password"]}}}
	}
	base := res(map[string]any{
		"password": "hunter2-old",
		"env":      []any{map[string]any{"name": "TOKEN", "value": recorder.Secret}},
		"config":   map[string]any{"apiKey": Blinded, "privateKey": map[string]any{"pem": "-----BEGIN old"}},
		"plain":    "a",
	})
	head := res(map[string]any{
		"password": "hunter2-new",
		"env":      []any{map[string]any{"name": "TOKEN", "value": recorder.Secret}},
		"config":   map[string]any{"apiKey": Blinded, "privateKey": map[string]any{"pem": "-----BEGIN new"}},
		"plain":    "b",
	})
	d := Compute(base, head, Options{SecretKeys: append([]string{"PASSWORD"}, DefaultSecretKeys...)})
	var md bytes.Buffer
	if err := d.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, secret := range []string{"hunter2", "BEGIN", recorder.Secret, Blinded} {
		if strings.Contains(out, secret) {
			t.Errorf("output contains %q:\n%s", secret, out)
		}
	}
	// Only the plain change is reported: masked values compare equal.
	if len(d.Changed) != 1 || len(d.Changed[0].Properties) != 1 || d.Changed[0].Properties[0].Path != "plain" {
		t.Errorf("changed = %+v, want only plain", d.Changed)
	}
	if len(d.Outputs) != 0 {
		t.Errorf("a masked output was reported: %+v", d.Outputs)
	}
	// An added resource shows its secrets masked too.
	d = Compute(nil, head, Options{SecretKeys: []string{"password", "privateKey"}})
	md.Reset()
	if err := d.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if out := md.String(); strings.Contains(out, "hunter2") || strings.Contains(out, "BEGIN") || !strings.Contains(out, "(secret)") {
		t.Errorf("added resource rendering leaks or lacks the mask:\n%s", out)
	}
	if !d.BaseMissing || len(d.Added) != 1 {
		t.Errorf("diff from nothing: %+v", d)
	}
}

// TestRendering: paths quote awkward keys, values survive table cells, and
// long values are cut.
func TestRendering(t *testing.T) {
	r := renderer{opts: Options{MaxValue: 20}, secret: map[string]bool{}}
	got := r.flatten(map[string]any{
		"labels": map[string]any{"app.kubernetes.io/name": "x", "plain": "y"},
		"list":   []any{},
		"obj":    map[string]any{},
		"long":   strings.Repeat("z", 50),
	})
	want := map[string]string{
		`labels["app.kubernetes.io/name"]`: `"x"`,
		"labels.plain":                     `"y"`,
		"list":                             "[]",
		"obj":                              "{}",
		"long":                             `"zzzzzzzzzzzzzzzzzzz… (52 characters)`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("flattened to %v", got)
	}
	for in, want := range map[string]string{
		"a|b":  "`a\\|b`",
		"a`b":  "`` a`b ``",
		"x\ny": "`x y`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOptionsAndRelations: protection and the relations between resources
// are compared too; a changed dependency lists exactly what was gained or lost.
func TestOptionsAndRelations(t *testing.T) {
	const (
		a = "urn:pulumi:s::p::gcp:pubsub/topic:Topic::a"
		b = "urn:pulumi:s::p::asyncjobs:messaging:Topic$gcp:pubsub/topic:Topic::b"
		c = "urn:pulumi:s::p::gcp:pubsub/topic:Topic::c"
		r = "urn:pulumi:s::p::gcp:pubsub/subscription:Subscription::r"
	)
	plan := func(protect bool, deps []string) *recorder.Plan {
		return &recorder.Plan{Stack: "s", Resources: []*recorder.Resource{{
			URN: r, Type: "gcp:pubsub/subscription:Subscription", Name: "r", Inputs: map[string]any{"x": 1.0},
			Protect: protect, Dependencies: deps,
		}}}
	}
	d := Compute(plan(false, []string{a, b}), plan(true, []string{b, c}), Options{})
	if len(d.Changed) != 1 {
		t.Fatalf("changed = %+v", d.Changed)
	}
	got := map[string][2]string{}
	for _, p := range d.Changed[0].Properties {
		got[p.Path] = [2]string{side(p.Old, p.HasOld), side(p.New, p.HasNew)}
	}
	want := map[string][2]string{
		"(protect)":                             {"_(absent)_", "`true`"},
		"(dependsOn) gcp:pubsub/topic:Topic::a": {"`true`", "_(absent)_"},
		"(dependsOn) gcp:pubsub/topic:Topic::c": {"_(absent)_", "`true`"},
	}
	if len(got) != len(want) {
		t.Errorf("properties %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if s := ShortURN(b); s != "gcp:pubsub/topic:Topic::b" {
		t.Errorf("ShortURN(%s) = %s", b, s)
	}
}

// TestComponentDependencies: DependsOn(component) reaches the plan as the
// component's children registered so far, which varies from run to run; the
// diff compares it as a dependency on the component. Dependencies between
// siblings of one component stay exact.
func TestComponentDependencies(t *testing.T) {
	const (
		stack = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
		apis  = "urn:pulumi:s::p::asyncjobs:apis:Services::apis"
		run   = "urn:pulumi:s::p::asyncjobs:apis:Services$gcp:projects/service:Service::apis-run"
		iam   = "urn:pulumi:s::p::asyncjobs:apis:Services$gcp:projects/service:Service::apis-iam"
		comp  = "urn:pulumi:s::p::asyncjobs:worker:Worker::worker"
		sa    = "urn:pulumi:s::p::asyncjobs:worker:Worker$gcp:serviceaccount/account:Account::worker-runtime"
		svc   = "urn:pulumi:s::p::asyncjobs:worker:Worker$gcp:cloudrunv2/service:Service::worker"
	)
	plan := func(svcDeps []string) *recorder.Plan {
		return &recorder.Plan{Stack: "s", Resources: []*recorder.Resource{
			{URN: apis, Type: "asyncjobs:apis:Services", Name: "apis", Parent: stack},
			{URN: run, Type: "gcp:projects/service:Service", Name: "apis-run", Custom: true, Parent: apis},
			{URN: iam, Type: "gcp:projects/service:Service", Name: "apis-iam", Custom: true, Parent: apis},
			{URN: comp, Type: "asyncjobs:worker:Worker", Name: "worker", Parent: stack},
			{URN: sa, Type: "gcp:serviceaccount/account:Account", Name: "worker-runtime", Custom: true, Parent: comp},
			{URN: svc, Type: "gcp:cloudrunv2/service:Service", Name: "worker", Custom: true, Parent: comp, Dependencies: svcDeps},
		}}
	}
	if d := Compute(plan([]string{run, sa}), plan([]string{run, iam, sa}), Options{}); d.HasChanges() {
		t.Errorf("a varying expansion of DependsOn(apis) was reported: %+v", d.Changed)
	}
	d := Compute(plan([]string{run, sa}), plan([]string{run}), Options{})
	if len(d.Changed) != 1 || len(d.Changed[0].Properties) != 1 ||
		d.Changed[0].Properties[0].Path != "(dependsOn) gcp:serviceaccount/account:Account::worker-runtime" {
		t.Errorf("a lost sibling dependency: %+v", d.Changed)
	}
	d = Compute(plan([]string{sa}), plan([]string{run, sa}), Options{})
	if len(d.Changed) != 1 || d.Changed[0].Properties[0].Path != "(dependsOn) asyncjobs:apis:Services::apis" {
		t.Errorf("a new dependency on the apis component: %+v", d.Changed)
	}
}
