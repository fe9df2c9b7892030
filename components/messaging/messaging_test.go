package messaging

import (
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

const agent = "serviceAccount:service-123@gcp-sa-pubsub.iam.gserviceaccount.com"

func topicSpec() TopicSpec {
	pull := DefaultSubscription()
	pull.Name = "jobs-worker"
	pull.Retry = &RetryPolicy{MinimumBackoff: duration.Of(10 * time.Second), MaximumBackoff: duration.Of(600 * time.Second)}
	pull.Filter = `attributes.kind = "mail"`
	pull.Subscribers = []string{"serviceAccount:consumer@p.iam.gserviceaccount.com"}
	push := DefaultSubscription()
	push.Name = "jobs-push"
	push.Push = &PushSpec{Path: "/pubsub"}
	push.DeadLetter.MaxDeliveryAttempts = 10
	push.DeadLetter.MessageRetention = duration.Of(31 * 24 * time.Hour)
	return TopicSpec{
		Name:          "jobs",
		Publishers:    []string{"serviceAccount:api@p.iam.gserviceaccount.com"},
		Subscriptions: []SubscriptionSpec{pull, push},
	}
}

// resolved fills the spec's physical names as the stack's resolve step
// does for the name suffix (components never compute them).
func resolved(spec TopicSpec, suffix string) TopicSpec {
	spec.Names = TopicNames{Topic: gcpname.Physical(spec.Name, suffix)}
	spec.Subscriptions = append([]SubscriptionSpec{}, spec.Subscriptions...)
	for i := range spec.Subscriptions {
		s := &spec.Subscriptions[i]
		s.Names = SubscriptionNames{
			Subscription: gcpname.Physical(s.Name, suffix),
			DeadLetter:   gcpname.Physical(DeadLetterName(s.Name), suffix),
		}
	}
	return spec
}

func record(t *testing.T, spec TopicSpec) *recorder.Plan {
	t.Helper()
	plan, err := recorder.Run(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "topic", Args{
			Project: "p", Spec: resolved(spec, "x1"),
			ServiceAgent:     pulumi.String(agent),
			WorkerURL:        pulumi.String("https://worker.example.run.app"),
			PushServiceEmail: pulumi.String("worker-push@p.iam.gserviceaccount.com"),
		})
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test"})
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	return plan
}

func TestTopicAndDeadLetters(t *testing.T) {
	plan := record(t, topicSpec())
	comp := plantest.Find(t, plan, TypeToken, "topic")
	topic := plantest.Find(t, plan, "gcp:pubsub/topic:Topic", "topic")
	plantest.ChildOf(t, topic, comp)
	plantest.Inputs(t, topic, map[string]any{"name": "jobs-x1", "labels.asyncjobs-role": "worker"})

	pub := plantest.Find(t, plan, "gcp:pubsub/topicIAMMember:TopicIAMMember", "topic-publisher-0")
	plantest.Inputs(t, pub, map[string]any{"role": "roles/pubsub.publisher", "member": "serviceAccount:api@p.iam.gserviceaccount.com", "topic": "jobs-x1"})
	plantest.ReplacedWith(t, pub, topic)

	sub := plantest.Find(t, plan, "gcp:pubsub/subscription:Subscription", "topic-jobs-worker")
	plantest.Inputs(t, sub, map[string]any{
		"name":                                 "jobs-worker-x1",
		"topic":                                "projects/p/topics/jobs-x1",
		"ackDeadlineSeconds":                   60.0,
		"messageRetentionDuration":             "604800s",
		"expirationPolicy.ttl":                 "",
		"retryPolicy.minimumBackoff":           "10s",
		"retryPolicy.maximumBackoff":           "600s",
		"filter":                               `attributes.kind = "mail"`,
		"deadLetterPolicy.deadLetterTopic":     "projects/p/topics/jobs-worker-dead-letter-x1",
		"deadLetterPolicy.maxDeliveryAttempts": 5.0,
		"enableExactlyOnceDelivery":            false,
		"labels.asyncjobs-role":                "worker",
	})
	plantest.Absent(t, sub, "pushConfig")
	// Protection is the stack's alone (asyncjobs:protect, applied to every
	// resource; see stacks.TestProtectionComesFromConfig).
	if sub.Protect {
		t.Error("the component protects the worker subscription itself")
	}

	dlTopic := plantest.Find(t, plan, "gcp:pubsub/topic:Topic", "topic-jobs-worker-dl")
	plantest.Inputs(t, dlTopic, map[string]any{"name": "jobs-worker-dead-letter-x1", "labels.asyncjobs-role": "dead-letter-topic"})
	dlSub := plantest.Find(t, plan, "gcp:pubsub/subscription:Subscription", "topic-jobs-worker-dl")
	plantest.Inputs(t, dlSub, map[string]any{
		"name":                     "jobs-worker-dead-letter-x1",
		"topic":                    "projects/p/topics/jobs-worker-dead-letter-x1",
		"expirationPolicy.ttl":     "",
		"messageRetentionDuration": "604800s",
		"labels.asyncjobs-role":    "dead-letter",
	})
	plantest.Absent(t, dlSub, "deadLetterPolicy")
	if dlTopic.Protect || dlSub.Protect {
		t.Error("the component protects the dead-letter pair itself")
	}

	agentPub := plantest.Find(t, plan, "gcp:pubsub/topicIAMMember:TopicIAMMember", "topic-jobs-worker-dl-agent-publisher")
	plantest.Inputs(t, agentPub, map[string]any{"role": "roles/pubsub.publisher", "member": agent, "topic": "jobs-worker-dead-letter-x1"})
	plantest.ReplacedWith(t, agentPub, dlTopic)
	agentSub := plantest.Find(t, plan, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "topic-jobs-worker-dl-agent-subscriber")
	plantest.Inputs(t, agentSub, map[string]any{"role": "roles/pubsub.subscriber", "member": agent, "subscription": "jobs-worker-x1"})
	plantest.ReplacedWith(t, agentSub, sub)
	consumer := plantest.Find(t, plan, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "topic-jobs-worker-subscriber-0")
	plantest.Inputs(t, consumer,
		map[string]any{"role": "roles/pubsub.subscriber", "member": "serviceAccount:consumer@p.iam.gserviceaccount.com", "subscription": "jobs-worker-x1"})
	plantest.ReplacedWith(t, consumer, sub)

	push := plantest.Find(t, plan, "gcp:pubsub/subscription:Subscription", "topic-jobs-push")
	plantest.Inputs(t, push, map[string]any{
		"pushConfig.pushEndpoint":                  "https://worker.example.run.app/pubsub",
		"pushConfig.oidcToken.serviceAccountEmail": "worker-push@p.iam.gserviceaccount.com",
		"pushConfig.oidcToken.audience":            "https://worker.example.run.app",
		"deadLetterPolicy.maxDeliveryAttempts":     10.0,
	})
	plantest.Absent(t, push, "retryPolicy")
	pushDL := plantest.Find(t, plan, "gcp:pubsub/subscription:Subscription", "topic-jobs-push-dl")
	plantest.Input(t, pushDL, "messageRetentionDuration", "2678400s")

	// Two subscriptions: each has its own dead-letter topic, subscription and two agent grants.
	if n := len(plan.ByType("gcp:pubsub/topic:Topic")); n != 3 {
		t.Errorf("got %d topics, want 3 (jobs and two dead-letter topics)", n)
	}
	if n := len(plan.ByType("gcp:pubsub/subscription:Subscription")); n != 4 {
		t.Errorf("got %d subscriptions, want 4", n)
	}
}

func TestPushNeedsWorker(t *testing.T) {
	_, err := recorder.Run(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "topic", Args{Spec: resolved(topicSpec(), ""), Project: "p", ServiceAgent: pulumi.String(agent)})
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test"})
	if err == nil || !strings.Contains(err.Error(), "jobs-push pushes to the worker") {
		t.Fatalf("got %v, want an error naming the push subscription", err)
	}
}

// TestUnresolvedNamesAreRefused: a spec whose physical names were not
// filled (no stack resolve step) is an error naming it, not a guess.
func TestUnresolvedNamesAreRefused(t *testing.T) {
	partly := resolved(topicSpec(), "x1")
	partly.Subscriptions[1].Names = SubscriptionNames{}
	for _, c := range []struct {
		name string
		spec TopicSpec
		want string
	}{
		{"topic", topicSpec(), `topic "jobs": physical names not resolved`},
		{"subscription", partly, `topic "jobs" subscription "jobs-push": physical names not resolved`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := recorder.Run(func(ctx *pulumi.Context) error {
				_, err := New(ctx, "topic", Args{Spec: c.spec, Project: "p", ServiceAgent: pulumi.String(agent),
					WorkerURL: pulumi.String("https://w"), PushServiceEmail: pulumi.String("w@p.iam.gserviceaccount.com")})
				return err
			}, recorder.Options{Project: "asyncjobs", Stack: "test"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestTopicSpecValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*TopicSpec)
		path   string
	}{
		{"no subscriptions", func(s *TopicSpec) { s.Subscriptions = nil }, "t.subscriptions"},
		{"topic name starts with goog", func(s *TopicSpec) { s.Name = "google-jobs" }, "t.name"},
		{"topic name too short", func(s *TopicSpec) { s.Name = "ab" }, "t.name"},
		{"topic retention too long", func(s *TopicSpec) { s.MessageRetention = duration.Of(32 * 24 * time.Hour) }, "t.messageRetention"},
		{"public publisher", func(s *TopicSpec) { s.Publishers = []string{"allUsers"} }, "t.publishers[0]"},
		{"ack deadline 5s", func(s *TopicSpec) { s.Subscriptions[0].AckDeadline = duration.Of(5 * time.Second) }, "t.subscriptions[0].ackDeadline"},
		{"ack deadline 601s", func(s *TopicSpec) { s.Subscriptions[0].AckDeadline = duration.Of(601 * time.Second) }, "t.subscriptions[0].ackDeadline"},
		{"retention 5m", func(s *TopicSpec) { s.Subscriptions[0].MessageRetention = duration.Of(5 * time.Minute) }, "t.subscriptions[0].messageRetention"},
		{"retention 32d", func(s *TopicSpec) { s.Subscriptions[0].MessageRetention = duration.Of(32 * 24 * time.Hour) }, "t.subscriptions[0].messageRetention"},
		{"backoff over 600s", func(s *TopicSpec) { s.Subscriptions[0].Retry.MaximumBackoff = duration.Of(601 * time.Second) },
			"t.subscriptions[0].retry.maximumBackoff"},
		{"backoff min above max", func(s *TopicSpec) { s.Subscriptions[0].Retry.MinimumBackoff = duration.Of(700 * time.Second) },
			"t.subscriptions[0].retry.minimumBackoff"},
		{"backoff missing", func(s *TopicSpec) { s.Subscriptions[0].Retry.MinimumBackoff = duration.Duration{} }, "t.subscriptions[0].retry.minimumBackoff"},
		{"exactly once on push", func(s *TopicSpec) { s.Subscriptions[1].ExactlyOnce = true }, "t.subscriptions[1].exactlyOnce"},
		{"delivery attempts 4", func(s *TopicSpec) { s.Subscriptions[0].DeadLetter.MaxDeliveryAttempts = 4 }, "t.subscriptions[0].deadLetter.maxDeliveryAttempts"},
		{"delivery attempts 101", func(s *TopicSpec) { s.Subscriptions[0].DeadLetter.MaxDeliveryAttempts = 101 },
			"t.subscriptions[0].deadLetter.maxDeliveryAttempts"},
		{"dead letter retention 40d", func(s *TopicSpec) { s.Subscriptions[0].DeadLetter.MessageRetention = duration.Of(40 * 24 * time.Hour) },
			"t.subscriptions[0].deadLetter.messageRetention"},
		{"push path without slash", func(s *TopicSpec) { s.Subscriptions[1].Push.Path = "pubsub" }, "t.subscriptions[1].push.path"},
		{"filter too long", func(s *TopicSpec) { s.Subscriptions[0].Filter = strings.Repeat("x", 257) }, "t.subscriptions[0].filter"},
		{"subscription name empty", func(s *TopicSpec) { s.Subscriptions[0].Name = "" }, "t.subscriptions[0].name"},
		{"dead-letter name too long", func(s *TopicSpec) { s.Subscriptions[0].Name = "s" + strings.Repeat("x", 250) }, "t.subscriptions[0].name"},
		{"public subscriber", func(s *TopicSpec) { s.Subscriptions[0].Subscribers = []string{"allAuthenticatedUsers"} }, "t.subscriptions[0].subscribers[0]"},
	}
	if errs := resolved(topicSpec(), "").Validate(field.NewPath("t")); len(errs) != 0 {
		t.Fatalf("the valid topic is rejected: %v", errs)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := topicSpec()
			s.Subscriptions = append([]SubscriptionSpec{}, s.Subscriptions...)
			r := *s.Subscriptions[0].Retry
			s.Subscriptions[0].Retry = &r
			p := *s.Subscriptions[1].Push
			s.Subscriptions[1].Push = &p
			tc.mutate(&s)
			errs := resolved(s, "").Validate(field.NewPath("t"))
			for _, e := range errs {
				if e.Field == tc.path {
					return
				}
			}
			t.Errorf("want an error at %s, got %v", tc.path, errs)
		})
	}
}

// TestValidateChecksResolvedNames: the limits apply to the physical names
// (with the stack's suffix), which Validate reads from Names.
func TestValidateChecksResolvedNames(t *testing.T) {
	s := topicSpec()
	s.Name = "t" + strings.Repeat("x", gcpname.MaxPubSub-1)
	if errs := resolved(s, "").Validate(field.NewPath("t")); len(errs) != 0 {
		t.Fatalf("a %d-character topic name without suffix is rejected: %v", len(s.Name), errs)
	}
	errs := resolved(s, "x1").Validate(field.NewPath("t"))
	if len(errs) != 1 || errs[0].Field != "t.name" {
		t.Errorf("with suffix x1: %v, want one error at t.name", errs)
	}
}
