package taskqueue

import (
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/worker"
	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

// documentSpec is Pulumi.dev.yaml's sample-queue: its retry settings, and an
// enqueuer.
func documentSpec() Spec {
	s := DefaultSpec()
	s.Name = "sample-queue"
	s.Retry = RetryConfig{
		MaxAttempts:      10,
		MinBackoff:       duration.Of(10 * time.Second),
		MaxBackoff:       duration.Of(3600 * time.Second),
		MaxDoublings:     3,
		MaxRetryDuration: duration.Of(0),
	}
	s.Enqueuers = []string{"serviceAccount:producer@p.iam.gserviceaccount.com"}
	return resolved(s)
}

// resolved fills the spec's location and physical names as the stack's
// resolve step does for a stack in asia-northeast1 without a name suffix
// (components never compute them).
func resolved(s Spec) Spec {
	s.Names = Names{Location: s.Location, Queue: s.Name, InvokerAccount: s.InvokerID(), EnqueuerAccount: s.EnqueuerID()}
	if s.Names.Location == "" {
		s.Names.Location = "asia-northeast1"
	}
	return s
}

func record(t *testing.T, spec Spec) *recorder.Plan {
	t.Helper()
	plan, err := recorder.Run(func(ctx *pulumi.Context) error {
		ws := worker.DefaultSpec()
		ws.Image = "gcr.io/p/w:1"
		ws.Names = worker.Names{Region: "asia-northeast1", Service: "worker", RuntimeAccount: "worker-run"}
		w, err := worker.New(ctx, "worker", worker.Args{Project: "p", Spec: ws})
		if err != nil {
			return err
		}
		_, err = New(ctx, "queue", Args{
			Project: "p", Spec: spec,
			Worker: w, WorkerURL: w.URL, WorkerTimeoutSeconds: 3600,
		})
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test"})
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	return plan
}

func TestQueueInputs(t *testing.T) {
	plan := record(t, documentSpec())
	comp := plantest.Find(t, plan, TypeToken, "queue")
	q := plantest.Find(t, plan, "gcp:cloudtasks/queue:Queue", "queue")
	plantest.ChildOf(t, q, comp)
	plantest.Inputs(t, q, map[string]any{
		"name":                                   "sample-queue",
		"location":                               "asia-northeast1",
		"project":                                "p",
		"rateLimits.maxDispatchesPerSecond":      500.0,
		"rateLimits.maxConcurrentDispatches":     1000.0,
		"retryConfig.maxAttempts":                10.0,
		"retryConfig.minBackoff":                 "10s",
		"retryConfig.maxBackoff":                 "3600s",
		"retryConfig.maxDoublings":               3.0,
		"retryConfig.maxRetryDuration":           "0s",
		"stackdriverLoggingConfig.samplingRatio": 1.0,
	})
	plantest.Absent(t, q, "rateLimits.maxBurstSize") // output-only in the API
	// Protection is the stack's alone (asyncjobs:protect, applied to every
	// resource; see stacks.TestProtectionComesFromConfig).
	if q.Protect {
		t.Errorf("the component protects the queue itself")
	}

	inv := plantest.Find(t, plan, "gcp:serviceaccount/account:Account", "queue-invoker")
	plantest.Input(t, inv, "accountId", "sample-queue-invoker")
	enq := plantest.Find(t, plan, "gcp:serviceaccount/account:Account", "queue-enqueuer")
	plantest.Input(t, enq, "accountId", "sample-queue-enqueuer")

	run := plantest.Find(t, plan, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "queue-invoker-run")
	plantest.ChildOf(t, run, comp)
	plantest.Inputs(t, run, map[string]any{
		"role":   "roles/run.invoker",
		"member": "serviceAccount:sample-queue-invoker@p.iam.gserviceaccount.com",
		"name":   "worker",
	})

	enqueuers := map[string]string{
		"queue-enqueuer-0": "serviceAccount:sample-queue-enqueuer@p.iam.gserviceaccount.com",
		"queue-enqueuer-1": "serviceAccount:producer@p.iam.gserviceaccount.com",
	}
	for name, member := range enqueuers {
		g := plantest.Find(t, plan, "gcp:cloudtasks/queueIamMember:QueueIamMember", name)
		plantest.Inputs(t, g, map[string]any{"role": "roles/cloudtasks.enqueuer", "member": member, "name": "sample-queue", "location": "asia-northeast1"})
		plantest.ReplacedWith(t, g, q)
		actAs := plantest.Find(t, plan, "gcp:serviceaccount/iAMMember:IAMMember", name+"-actas")
		plantest.Inputs(t, actAs, map[string]any{
			"role":             "roles/iam.serviceAccountUser",
			"member":           member,
			"serviceAccountId": "projects/p/serviceAccounts/sample-queue-invoker@p.iam.gserviceaccount.com",
		})
		plantest.ReplacedWith(t, actAs, inv)
	}
	if n := len(plan.ByType("gcp:cloudtasks/queueIamMember:QueueIamMember")); n != 2 {
		t.Errorf("got %d enqueuer grants, want 2", n)
	}
	if n := len(plan.ByType("gcp:serviceaccount/iAMMember:IAMMember")); n != 2 {
		t.Errorf("got %d actAs grants, want 2", n)
	}
}

func TestQueueSpecValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Spec)
		path   string
	}{
		{"dispatch rate zero", func(s *Spec) { s.RateLimits.MaxDispatchesPerSecond = 0 }, "q.rateLimits.maxDispatchesPerSecond"},
		{"dispatch rate over 500", func(s *Spec) { s.RateLimits.MaxDispatchesPerSecond = 501 }, "q.rateLimits.maxDispatchesPerSecond"},
		{"concurrent zero", func(s *Spec) { s.RateLimits.MaxConcurrentDispatches = 0 }, "q.rateLimits.maxConcurrentDispatches"},
		{"concurrent over 5000", func(s *Spec) { s.RateLimits.MaxConcurrentDispatches = 5001 }, "q.rateLimits.maxConcurrentDispatches"},
		{"attempts -2", func(s *Spec) { s.Retry.MaxAttempts = -2 }, "q.retry.maxAttempts"},
		{"attempts 0", func(s *Spec) { s.Retry.MaxAttempts = 0 }, "q.retry.maxAttempts"},
		{"negative min backoff", func(s *Spec) { s.Retry.MinBackoff = duration.Of(-time.Second) }, "q.retry.minBackoff"},
		{"sub-second min backoff", func(s *Spec) { s.Retry.MinBackoff = duration.Of(100 * time.Millisecond) }, "q.retry.minBackoff"},
		{"fractional max backoff", func(s *Spec) { s.Retry.MaxBackoff = duration.Of(90*time.Second + 500*time.Millisecond) }, "q.retry.maxBackoff"},
		{"fractional retry duration", func(s *Spec) { s.Retry.MaxRetryDuration = duration.Of(1500 * time.Millisecond) }, "q.retry.maxRetryDuration"},
		{"max below min", func(s *Spec) { s.Retry.MaxBackoff = duration.Of(time.Second) }, "q.retry.maxBackoff"},
		{"negative doublings", func(s *Spec) { s.Retry.MaxDoublings = -1 }, "q.retry.maxDoublings"},
		{"negative retry duration", func(s *Spec) { s.Retry.MaxRetryDuration = duration.Of(-time.Second) }, "q.retry.maxRetryDuration"},
		{"sampling above 1", func(s *Spec) { s.LoggingSamplingRatio = 1.5 }, "q.loggingSamplingRatio"},
		{"sampling negative", func(s *Spec) { s.LoggingSamplingRatio = -0.1 }, "q.loggingSamplingRatio"},
		{"bad queue name", func(s *Spec) { s.Name = "sample_queue" }, "q.name"},
		{"queue name too long", func(s *Spec) {
			s.Name = strings.Repeat("q", 101)
			s.InvokerAccountID = "inv-acct"
			s.EnqueuerAccountID = "enq-acct"
		}, "q.name"},
		{"derived invoker id too long", func(s *Spec) { s.Name = "a-really-long-queue-name-here" }, "q.invokerAccountId"},
		{"public enqueuer", func(s *Spec) { s.Enqueuers = []string{"allUsers"} }, "q.enqueuers[0]"},
		{"member without kind", func(s *Spec) { s.Enqueuers = []string{"someone@example.com"} }, "q.enqueuers[0]"},
		{"duplicate enqueuer", func(s *Spec) { s.Enqueuers = []string{"user:a@example.com", "user:a@example.com"} }, "q.enqueuers[1]"},
		{"bad location", func(s *Spec) { s.Location = "Tokyo" }, "q.location"},
	}
	if errs := documentSpec().Validate(field.NewPath("q")); len(errs) != 0 {
		t.Fatalf("the document's queue is rejected: %v", errs)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := documentSpec()
			tc.mutate(&s)
			errs := resolved(s).Validate(field.NewPath("q"))
			for _, e := range errs {
				if e.Field == tc.path {
					return
				}
			}
			t.Errorf("want an error at %s, got %v", tc.path, errs)
		})
	}
}

// TestUnresolvedNamesAreRefused: a spec whose location or physical names
// were not filled (no stack resolve step) is an error naming it, not a
// guess.
func TestUnresolvedNamesAreRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*Names)
	}{
		{"queue", func(n *Names) { n.Queue = "" }},
		{"invoker account", func(n *Names) { n.InvokerAccount = "" }},
		{"enqueuer account", func(n *Names) { n.EnqueuerAccount = "" }},
		{"location", func(n *Names) { n.Location = "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := documentSpec()
			c.mutate(&spec.Names)
			_, err := recorder.Run(func(ctx *pulumi.Context) error {
				_, err := New(ctx, "queue", Args{Project: "p", Spec: spec})
				return err
			}, recorder.Options{Project: "asyncjobs", Stack: "test"})
			if err == nil || !strings.Contains(err.Error(), `queue "sample-queue": spec not resolved`) {
				t.Fatalf("got %v, want an error naming the queue's unresolved spec", err)
			}
		})
	}
}

// TestQueueLivesAtTheResolvedLocation: the queue and its grants are where
// Names.Location says (the stack's region when Spec.Location is empty).
func TestQueueLivesAtTheResolvedLocation(t *testing.T) {
	spec := documentSpec()
	spec.Location, spec.Names.Location = "", "europe-west1"
	plan := record(t, spec)
	plantest.Input(t, plantest.Find(t, plan, "gcp:cloudtasks/queue:Queue", "queue"), "location", "europe-west1")
	plantest.Input(t, plantest.Find(t, plan, "gcp:cloudtasks/queueIamMember:QueueIamMember", "queue-enqueuer-0"), "location", "europe-west1")
}
