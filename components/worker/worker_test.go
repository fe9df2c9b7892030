package worker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/program/duration"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
)

func documentSpec() Spec {
	s := DefaultSpec()
	s.Image = "asia-docker.pkg.dev/p/sample/flask:ver1"
	s.MaxInstances = 1
	s.Timeout = duration.Of(60 * time.Minute)
	s.Env = map[string]string{"B": "2", "A": "1"}
	s.Invokers = []string{"group:ops@example.com"}
	return s
}

// resolved fills the spec's region and physical names as the stack's
// resolve step does for a stack in asia-northeast1 with the name suffix
// (components never compute them); the push account is named only when
// push says a subscription pushes to the worker.
func resolved(s Spec, suffix string, push bool) Spec {
	s.Names = Names{
		Region:         "asia-northeast1",
		Service:        gcpname.Physical(s.Name, suffix),
		RuntimeAccount: gcpname.Physical(s.RuntimeAccountID(), suffix),
	}
	if push {
		s.Names.PushAccount = gcpname.Physical(s.PushAccountID(), suffix)
	}
	return s
}

func record(t *testing.T, args Args) *recorder.Plan {
	t.Helper()
	plan, err := recorder.Run(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "worker", args)
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test"})
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	return plan
}

func TestWorkerInputs(t *testing.T) {
	plan := record(t, Args{Project: "p", Labels: map[string]string{"env": "dev"}, Spec: resolved(documentSpec(), "t1", false)})

	comp := plantest.Find(t, plan, TypeToken, "worker")
	if comp.Custom {
		t.Errorf("component registered as a custom resource")
	}
	sa := plantest.Find(t, plan, "gcp:serviceaccount/account:Account", "worker-runtime")
	plantest.Input(t, sa, "accountId", "worker-run-t1")
	plantest.ChildOf(t, sa, comp)

	svc := plantest.Find(t, plan, "gcp:cloudrunv2/service:Service", "worker")
	for path, v := range map[string]any{
		"name":                                          "worker-t1",
		"location":                                      "asia-northeast1",
		"ingress":                                       "INGRESS_TRAFFIC_ALL",
		"labels.env":                                    "dev",
		"template.serviceAccount":                       "worker-run-t1@p.iam.gserviceaccount.com",
		"template.maxInstanceRequestConcurrency":        80.0,
		"template.timeout":                              "3600s",
		"template.scaling.minInstanceCount":             0.0,
		"template.scaling.maxInstanceCount":             1.0,
		"template.containers.0.image":                   "asia-docker.pkg.dev/p/sample/flask:ver1",
		"template.containers.0.ports.0.containerPort":   8080.0,
		"template.containers.0.resources.limits.cpu":    "1000m",
		"template.containers.0.resources.limits.memory": "512Mi",
		"template.containers.0.envs.0.name":             "A",
		"template.containers.0.envs.1.value":            "2",
	} {
		plantest.Input(t, svc, path, v)
	}
	// Protection is the stack's alone (asyncjobs:protect, applied to every
	// resource; see stacks.TestProtectionComesFromConfig).
	if svc.Protect {
		t.Errorf("the component protects the service itself")
	}
	plantest.ChildOf(t, svc, comp)

	grants := plan.ByType("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
	if len(grants) != 1 {
		t.Fatalf("got %d invoker grants, want 1 (the configured member)", len(grants))
	}
	g := grants[0]
	plantest.Input(t, g, "role", "roles/run.invoker")
	plantest.Input(t, g, "member", "group:ops@example.com")
	plantest.Input(t, g, "name", "worker-t1")
	plantest.Input(t, g, "location", "asia-northeast1")
	plantest.ReplacedWith(t, g, svc)
	if n := len(plan.ByType("gcp:serviceaccount/account:Account")); n != 1 {
		t.Errorf("got %d service accounts without push, want 1", n)
	}
}

func TestWorkerPushIdentity(t *testing.T) {
	plan := record(t, Args{Project: "p", Spec: resolved(documentSpec(), "", true)})
	push := plantest.Find(t, plan, "gcp:serviceaccount/account:Account", "worker-push")
	plantest.Input(t, push, "accountId", "worker-push")
	g := plantest.Find(t, plan, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "worker-push-invoker")
	plantest.Input(t, g, "member", "serviceAccount:worker-push@p.iam.gserviceaccount.com")
	plantest.Input(t, g, "role", "roles/run.invoker")
}

func TestWorkerDeployersActAsOnItsAccountsOnly(t *testing.T) {
	deployer := "serviceAccount:deployer@ci.iam.gserviceaccount.com"
	plan := record(t, Args{Project: "p", Spec: resolved(documentSpec(), "", true), Deployers: []string{deployer}})
	grants := plan.ByType("gcp:serviceaccount/iAMMember:IAMMember")
	if len(grants) != 2 {
		t.Fatalf("got %d actAs grants, want 2 (runtime and push account)", len(grants))
	}
	runtime := plantest.Find(t, plan, "gcp:serviceaccount/iAMMember:IAMMember", "worker-runtime-deployer-0")
	plantest.Input(t, runtime, "role", "roles/iam.serviceAccountUser")
	plantest.Input(t, runtime, "member", deployer)
	plantest.Input(t, runtime, "serviceAccountId", "projects/p/serviceAccounts/worker-run@p.iam.gserviceaccount.com")
	push := plantest.Find(t, plan, "gcp:serviceaccount/iAMMember:IAMMember", "worker-push-deployer-0")
	plantest.Input(t, push, "serviceAccountId", "projects/p/serviceAccounts/worker-push@p.iam.gserviceaccount.com")

	// Creating the service needs actAs on its account: it waits for the grant.
	svc := plantest.Find(t, plan, "gcp:cloudrunv2/service:Service", "worker")
	found := false
	for _, d := range svc.Dependencies {
		if d == runtime.URN {
			found = true
		}
	}
	if !found {
		t.Errorf("service depends on %v, want the deployer grant %s", svc.Dependencies, runtime.URN)
	}
}

// TestServiceWaitsForTheGate: in a deployment the service is registered
// only once the deployer's actAs grant on its account exists and the gate
// has passed for the account; the push account's e-mail (which push
// subscriptions name) likewise. Each account is asked about once.
func TestServiceWaitsForTheGate(t *testing.T) {
	const runtime, push = "worker-run@p.iam.gserviceaccount.com", "worker-push@p.iam.gserviceaccount.com"
	events := &plantest.Events{}
	gate := &plantest.Gate{Events: events}
	var pushEmail string
	err := plantest.RunDeployment(func(ctx *pulumi.Context) error {
		w, err := New(ctx, "worker", Args{Project: "p", Spec: resolved(documentSpec(), "", true),
			Deployers: []string{"serviceAccount:deployer@ci.iam.gserviceaccount.com"}, Gate: gate})
		if err != nil {
			return err
		}
		w.PushServiceAccountEmail.ApplyT(func(s string) string { pushEmail = s; return s })
		return nil
	}, events)
	if err != nil {
		t.Fatal(err)
	}
	order := func(before, after string) {
		t.Helper()
		b, a := events.Index(before), events.Index(after)
		if b < 0 || a < 0 || b > a {
			t.Errorf("want %q before %q: %v", before, after, events.List())
		}
	}
	order("register gcp:serviceaccount/iAMMember:IAMMember::worker-runtime-deployer-0", "gate "+runtime)
	order("gate "+runtime, "register gcp:cloudrunv2/service:Service::worker")
	order("register gcp:serviceaccount/iAMMember:IAMMember::worker-push-deployer-0", "gate "+push)
	if got := gate.Calls(); len(got) != 2 || got[runtime] != 1 || got[push] != 1 {
		t.Errorf("gate asked %v, want each account once", got)
	}
	tpl, _ := events.Inputs("gcp:cloudrunv2/service:Service", "worker")["template"].(map[string]any)
	if tpl["serviceAccount"] != runtime {
		t.Errorf("service runs as %v, want %s", tpl["serviceAccount"], runtime)
	}
	if pushEmail != push {
		t.Errorf("push account e-mail resolved to %q, want %s", pushEmail, push)
	}
}

// TestServiceNotCreatedWhenTheGateRefuses: the gate's error ends the
// deployment before the service is asked for.
func TestServiceNotCreatedWhenTheGateRefuses(t *testing.T) {
	const runtime = "worker-run@p.iam.gserviceaccount.com"
	events := &plantest.Events{}
	gate := &plantest.Gate{Events: events, Refuse: map[string]error{runtime: errors.New("still may not act as it")}}
	err := plantest.RunDeployment(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "worker", Args{Project: "p", Spec: resolved(documentSpec(), "", false), Gate: gate})
		return err
	}, events)
	if err == nil || !strings.Contains(err.Error(), "still may not act as it") {
		t.Fatalf("deployment: %v, want the gate's refusal", err)
	}
	if events.Index("gate "+runtime) < 0 {
		t.Fatalf("gate never asked: %v", events.List())
	}
	if i := events.Index("register gcp:cloudrunv2/service:Service::worker"); i >= 0 {
		t.Errorf("service registered although the gate refused: %v", events.List())
	}
}

func TestWorkerPreviewLeavesDeploymentValuesUnknown(t *testing.T) {
	gate := &plantest.Gate{}
	plan, err := recorder.Run(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "worker", Args{Project: "p", Spec: resolved(documentSpec(), "", true), Gate: gate})
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test", Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is created in a preview: the gate is not asked.
	if calls := gate.Calls(); len(calls) != 0 {
		t.Errorf("a preview asked the gate about %v", calls)
	}
	svc := plantest.Find(t, plan, "gcp:cloudrunv2/service:Service", "worker")
	plantest.Input(t, svc, "template.serviceAccount", recorder.Computed)
	if deps := svc.PropertyDependencies["template"]; len(deps) != 1 || !strings.HasSuffix(deps[0], "::worker-runtime") {
		t.Errorf("template depends on %v, want the runtime account", deps)
	}
}

func TestSpecValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Spec)
		path   string
		typ    field.ErrorType
	}{
		{"latest tag", func(s *Spec) { s.Image = "gcr.io/p/app:latest" }, "w.image", field.ErrorTypeInvalid},
		{"no tag", func(s *Spec) { s.Image = "gcr.io/p/app" }, "w.image", field.ErrorTypeInvalid},
		{"bad digest", func(s *Spec) { s.Image = "gcr.io/p/app@sha256:abc" }, "w.image", field.ErrorTypeInvalid},
		{"missing image", func(s *Spec) { s.Image = "" }, "w.image", field.ErrorTypeRequired},
		{"port zero", func(s *Spec) { s.Port = 0 }, "w.port", field.ErrorTypeInvalid},
		{"cpu not a quantity", func(s *Spec) { s.CPU = "lots" }, "w.cpu", field.ErrorTypeInvalid},
		{"cpu 3", func(s *Spec) { s.CPU = "3" }, "w.cpu", field.ErrorTypeInvalid},
		{"memory too small", func(s *Spec) { s.Memory = "64Mi" }, "w.memory", field.ErrorTypeInvalid},
		{"memory too big", func(s *Spec) { s.Memory = "64Gi" }, "w.memory", field.ErrorTypeInvalid},
		{"concurrency 0", func(s *Spec) { s.Concurrency = 0 }, "w.concurrency", field.ErrorTypeInvalid},
		{"concurrency 1001", func(s *Spec) { s.Concurrency = 1001 }, "w.concurrency", field.ErrorTypeInvalid},
		{"fractional cpu needs concurrency 1", func(s *Spec) { s.CPU = "500m" }, "w.concurrency", field.ErrorTypeInvalid},
		{"min above max", func(s *Spec) { s.MinInstances = 5; s.MaxInstances = 2 }, "w.minInstances", field.ErrorTypeInvalid},
		{"max zero", func(s *Spec) { s.MaxInstances = 0; s.MinInstances = 0 }, "w.maxInstances", field.ErrorTypeInvalid},
		{"timeout over 60m", func(s *Spec) { s.Timeout = duration.Of(61 * time.Minute) }, "w.timeout", field.ErrorTypeInvalid},
		{"timeout zero", func(s *Spec) { s.Timeout = duration.Of(0) }, "w.timeout", field.ErrorTypeInvalid},
		{"ingress public lb", func(s *Spec) { s.Ingress = "internal-and-cloud-load-balancing" }, "w.ingress", field.ErrorTypeNotSupported},
		{"allUsers invoker", func(s *Spec) { s.Invokers = []string{"allUsers"} }, "w.invokers[0]", field.ErrorTypeForbidden},
		{"allAuthenticatedUsers invoker", func(s *Spec) { s.Invokers = []string{"allAuthenticatedUsers"} }, "w.invokers[0]", field.ErrorTypeForbidden},
		{"default compute account", func(s *Spec) { s.Invokers = []string{"serviceAccount:1-compute@developer.gserviceaccount.com"} },
			"w.invokers[0]", field.ErrorTypeForbidden},
		{"reserved env", func(s *Spec) { s.Env = map[string]string{"PORT": "1"} }, "w.env[PORT]", field.ErrorTypeForbidden},
		{"bad env name", func(s *Spec) { s.Env = map[string]string{"1X": "1"} }, "w.env[1X]", field.ErrorTypeInvalid},
		{"name uppercase", func(s *Spec) { s.Name = "Worker" }, "w.name", field.ErrorTypeInvalid},
		{"name too long", func(s *Spec) { s.Name = strings.Repeat("w", 50); s.ServiceAccountID = "worker-run" }, "w.name", field.ErrorTypeTooLong},
		{"account id too short", func(s *Spec) { s.ServiceAccountID = "abc" }, "w.serviceAccountId", field.ErrorTypeInvalid},
	}
	if errs := resolved(documentSpec(), "", true).Validate(field.NewPath("w")); len(errs) != 0 {
		t.Fatalf("the documents' spec is rejected: %v", errs)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := documentSpec()
			tc.mutate(&s)
			errs := resolved(s, "", true).Validate(field.NewPath("w"))
			for _, e := range errs {
				if e.Field == tc.path && e.Type == tc.typ {
					return
				}
			}
			t.Errorf("want %s error at %s, got %v", tc.typ, tc.path, errs)
		})
	}
}

// TestUnresolvedNamesAreRefused: a spec whose region or physical names
// were not filled (no stack resolve step) is an error naming it, not a
// guess. An empty push account is no error: it means nothing pushes.
func TestUnresolvedNamesAreRefused(t *testing.T) {
	without := func(mutate func(*Names)) Spec {
		s := resolved(documentSpec(), "", true)
		mutate(&s.Names)
		return s
	}
	for _, c := range []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"none", DefaultSpec(), false},
		{"region", without(func(n *Names) { n.Region = "" }), false},
		{"service", without(func(n *Names) { n.Service = "" }), false},
		{"runtime account", without(func(n *Names) { n.RuntimeAccount = "" }), false},
		{"push account (no push)", without(func(n *Names) { n.PushAccount = "" }), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := recorder.Run(func(ctx *pulumi.Context) error {
				_, err := New(ctx, "worker", Args{Project: "p", Spec: c.spec})
				return err
			}, recorder.Options{Project: "asyncjobs", Stack: "test"})
			if c.ok && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), `worker "worker": spec not resolved`)) {
				t.Fatalf("got %v, want an error naming the worker's unresolved spec", err)
			}
		})
	}
}

// TestValidateChecksThePushAccountOnlyWhenNamed: the push identity's id
// is checked when the stack resolved one (a subscription pushes), and not
// otherwise, since it is then never created.
func TestValidateChecksThePushAccountOnlyWhenNamed(t *testing.T) {
	s := documentSpec()
	s.PushServiceAccountID = "abc"
	errs := resolved(s, "", true).Validate(field.NewPath("w"))
	if len(errs) != 1 || errs[0].Field != "w.pushServiceAccountId" {
		t.Errorf("with push: %v, want one error at w.pushServiceAccountId", errs)
	}
	if errs := resolved(s, "", false).Validate(field.NewPath("w")); len(errs) != 0 {
		t.Errorf("without push: %v, want none", errs)
	}
}

// TestValidateChecksResolvedNames: the limits apply to the physical names
// (with the stack's suffix), which Validate reads from Names.
func TestValidateChecksResolvedNames(t *testing.T) {
	s := documentSpec()
	s.Name, s.ServiceAccountID = strings.Repeat("w", gcpname.MaxRunService), "worker-run"
	if errs := resolved(s, "", false).Validate(field.NewPath("w")); len(errs) != 0 {
		t.Fatalf("a %d-character name without suffix is rejected: %v", len(s.Name), errs)
	}
	errs := resolved(s, "t1", false).Validate(field.NewPath("w"))
	if len(errs) != 1 || errs[0].Field != "w.name" || errs[0].Type != field.ErrorTypeTooLong {
		t.Errorf("with suffix t1: %v, want one TooLong error at w.name", errs)
	}
}
