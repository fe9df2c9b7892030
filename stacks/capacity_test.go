package stacks

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/components/cronjob"
	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/internal/program/duration"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
)

// base is a valid configuration that draws no warning: a worker taking
// 10 × 80 requests with a 10m timeout, a queue of 500 concurrent
// dispatches, a pull and a push subscription (10m ack deadline), a
// subscriber Deployment on the pull one and a CronJob that publishes.
func capacityBase(t *testing.T) Config {
	t.Helper()
	cfg, err := Load("test", Source{
		"gcp:project":      "asyncjobs-test",
		"asyncjobs:region": "asia-northeast1",
		"asyncjobs:worker": `{"image": "asia-docker.pkg.dev/asyncjobs-test/r/worker:v1", "maxInstances": 10, "concurrency": 80, "timeout": "10m"}`,
		"asyncjobs:queues": `[{"name": "q1", "rateLimits": {"maxDispatchesPerSecond": 100, "maxConcurrentDispatches": 500}}]`,
		"asyncjobs:topics": `[{"name": "jobs", "subscriptions": [
			{"name": "jobs-worker", "ackDeadline": "60s"},
			{"name": "jobs-push", "ackDeadline": "600s", "push": {"path": "/pubsub"}},
			{"name": "jobs-audit"}]}]`,
		"asyncjobs:gke": `{"name": "cluster"}`,
		"asyncjobs:subscribers": `[{"name": "jobs-subscriber", "subscription": "jobs/jobs-worker", "maxReplicas": 10, ` +
			`"container": {"image": "asia-docker.pkg.dev/asyncjobs-test/r/sub:v1"}}]`,
		"asyncjobs:cronJobs": `[{"name": "report", "schedule": "0 3 * * *", "container": {"image": "asia-docker.pkg.dev/asyncjobs-test/r/report:v1"},
			"googleServiceAccount": {"grants": [{"role": "roles/pubsub.publisher", "topic": "jobs"}]}}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkCapacity runs capacityWarnings on a changed base configuration, after making sure
// the change left it valid: a warning is about settings that are allowed.
func checkCapacity(t *testing.T, change func(c *Config)) []Warning {
	t.Helper()
	cfg := capacityBase(t)
	change(&cfg)
	cfg.resolve() // as Load would: the change's names and defaults, then validation
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("the case is not a valid configuration: %v", errs)
	}
	return cfg.capacityWarnings()
}

type warningCase struct {
	name   string
	change func(c *Config)
	// want maps each expected warning's path to words its message holds;
	// no other warning may appear.
	want map[string][]string
}

func runWarnings(t *testing.T, cases []warningCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := checkCapacity(t, tc.change)
			got := map[string]string{}
			for _, w := range ws {
				if _, dup := got[w.Path]; dup {
					t.Errorf("two warnings on %s", w.Path)
				}
				got[w.Path] = w.Message
			}
			paths := func(m map[string][]string) []string {
				var out []string
				for p := range m {
					out = append(out, p)
				}
				return out
			}
			for p, words := range tc.want {
				msg, ok := got[p]
				if !ok {
					t.Errorf("no warning on %s; got %v", p, ws)
					continue
				}
				for _, w := range words {
					if !strings.Contains(msg, w) {
						t.Errorf("warning on %s lacks %q:\n%s", p, w, msg)
					}
				}
			}
			for p, msg := range got {
				if _, ok := tc.want[p]; !ok {
					t.Errorf("unexpected warning (want only %v): %s: %s", paths(tc.want), p, msg)
				}
			}
		})
	}
}

func TestBaseHasNoWarnings(t *testing.T) {
	if ws := checkCapacity(t, func(*Config) {}); len(ws) > 0 {
		t.Fatalf("warnings on the base configuration: %v", ws)
	}
}

// TestWarningConcurrency: queues dispatching more at once than the worker
// takes (maxInstances × concurrency).
func TestWarningConcurrency(t *testing.T) {
	const q0 = "asyncjobs:queues[0].rateLimits.maxConcurrentDispatches"
	runWarnings(t, []warningCase{{
		// The dev stack (Pulumi.dev.yaml): 1000 concurrent dispatches, 1 × 80.
		name: "dev stack values",
		change: func(c *Config) {
			c.Worker.MaxInstances, c.Worker.Concurrency = 1, 80
			c.Queues[0].RateLimits.MaxConcurrentDispatches = 1000
		},
		want: map[string][]string{q0: {"up to 1000 tasks", "at most 80", "maxInstances 1 × concurrency 80", "429", "to 80"}},
	}, {
		name:   "exactly the worker's capacity",
		change: func(c *Config) { c.Queues[0].RateLimits.MaxConcurrentDispatches = 800 },
	}, {
		name:   "one over the worker's capacity",
		change: func(c *Config) { c.Queues[0].RateLimits.MaxConcurrentDispatches = 801 },
		want:   map[string][]string{q0: {"up to 801 tasks", "at most 800", "maxInstances 10 × concurrency 80"}},
	}, {
		name: "two queues that fit each but not together",
		change: func(c *Config) {
			q := c.Queues[0]
			q.Name = "q2"
			c.Queues = append(c.Queues, q)
		},
		want: map[string][]string{"asyncjobs:queues": {"together dispatch up to 1000", "at most 800"}},
	}, {
		name: "two queues that fit together",
		change: func(c *Config) {
			q := c.Queues[0]
			q.Name, q.RateLimits.MaxConcurrentDispatches = "q2", 300
			c.Queues = append(c.Queues, q)
		},
	}, {
		// The queue that does not fit is named; the sum says nothing more.
		name: "two queues, one too many on its own",
		change: func(c *Config) {
			q := c.Queues[0]
			q.Name, q.RateLimits.MaxConcurrentDispatches = "q2", 900
			c.Queues = append(c.Queues, q)
		},
		want: map[string][]string{"asyncjobs:queues[1].rateLimits.maxConcurrentDispatches": {"queue q2", "up to 900"}},
	}})
}

// TestWarningDispatchDeadline: a dispatch deadline longer than the
// worker's request timeout (Cloud Tasks' 10m default against a shorter
// timeout), and a timeout beyond the longest deadline Cloud Tasks allows.
func TestWarningDispatchDeadline(t *testing.T) {
	const timeout = "asyncjobs:worker.timeout"
	pullOnly := func(c *Config) { c.Topics[0].Subscriptions = c.Topics[0].Subscriptions[:1] }
	runWarnings(t, []warningCase{{
		name:   "the default 10m deadline outlives a 5m timeout",
		change: func(c *Config) { c.Worker.Timeout = duration.Of(5 * time.Minute) },
		want:   map[string][]string{timeout: {"5m is shorter than the 10m dispatch deadline", "504", "at most 5m"}},
	}, {
		name: "no queue, no dispatch deadline",
		change: func(c *Config) {
			c.Worker.Timeout = duration.Of(5 * time.Minute)
			c.Queues = nil
		},
	}, {
		name: "a timeout beyond the longest dispatch deadline",
		change: func(c *Config) {
			pullOnly(c)
			c.Worker.Timeout = duration.Of(60 * time.Minute)
		},
		want: map[string][]string{timeout: {"1h is longer than the longest dispatch deadline Cloud Tasks allows (30m)", "run twice"}},
	}, {
		name: "a timeout equal to the longest dispatch deadline",
		change: func(c *Config) {
			pullOnly(c)
			c.Worker.Timeout = duration.Of(30 * time.Minute)
		},
	}})
}

// TestWarningPushAckDeadline: a push subscription's ack deadline (its
// request timeout) shorter than the worker may take.
func TestWarningPushAckDeadline(t *testing.T) {
	runWarnings(t, []warningCase{{
		name:   "60s push deadline, 10m worker timeout",
		change: func(c *Config) { c.Topics[0].Subscriptions[1].AckDeadline = duration.Of(60 * time.Second) },
		want: map[string][]string{"asyncjobs:topics[0].subscriptions[1].ackDeadline": {
			"push subscription jobs/jobs-push waits 1m", "request timeout is 10m", "redelivers"}},
	}, {
		name:   "a pull subscription's short deadline is the subscriber's business",
		change: func(c *Config) { c.Topics[0].Subscriptions[0].AckDeadline = duration.Of(10 * time.Second) },
	}, {
		name: "push deadline as long as a shorter worker timeout",
		change: func(c *Config) {
			c.Queues = nil // no dispatch-deadline warning for the 5m timeout
			c.Worker.Timeout = duration.Of(5 * time.Minute)
			c.Topics[0].Subscriptions[1].AckDeadline = duration.Of(5 * time.Minute)
		},
	}})
}

// TestWarningRateCap: a subscriber's HPA maxReplicas caps the rate its
// subscription is worked through only if nothing else consumes it.
func TestWarningRateCap(t *testing.T) {
	const sub0 = "asyncjobs:subscribers[0].maxReplicas"
	second := func(c *Config, subscription string) {
		s := c.Subscribers[0]
		s.Name, s.Subscription, s.MaxReplicas = "second-subscriber", subscription, 5
		c.Subscribers = append(c.Subscribers, s)
	}
	runWarnings(t, []warningCase{{
		name:   "two Deployments on one subscription",
		change: func(c *Config) { second(c, "jobs/jobs-worker") },
		want: map[string][]string{
			sub0:                                   {"maxReplicas 10", "jobs/jobs-worker", "subscriber second-subscriber (maxReplicas 5)"},
			"asyncjobs:subscribers[1].maxReplicas": {"maxReplicas 5", "subscriber jobs-subscriber (maxReplicas 10)"},
		},
	}, {
		name:   "two Deployments on two subscriptions",
		change: func(c *Config) { second(c, "jobs/jobs-audit") },
	}, {
		name: "a CronJob pulling the same subscription",
		change: func(c *Config) {
			g := &c.CronJobs[0].GoogleServiceAccount.Grants
			*g = append(*g, cronjob.Grant{Role: gcpiam.RolePubSubSubscriber, Subscription: "jobs/jobs-worker"})
		},
		want: map[string][]string{sub0: {"CronJob report"}},
	}, {
		name: "a CronJob pulling another subscription",
		change: func(c *Config) {
			g := &c.CronJobs[0].GoogleServiceAccount.Grants
			*g = append(*g, cronjob.Grant{Role: gcpiam.RolePubSubSubscriber, Subscription: "jobs/jobs-audit"})
		},
	}, {
		name: "another identity granted subscriber on the subscription",
		change: func(c *Config) {
			c.Topics[0].Subscriptions[0].Subscribers = []string{"serviceAccount:batch@asyncjobs-test.iam.gserviceaccount.com"}
		},
		want: map[string][]string{sub0: {"IAM member serviceAccount:batch@asyncjobs-test.iam.gserviceaccount.com"}},
	}})
}

// TestWarningRetentionBeforeDeadLetter: a message that keeps failing must
// be dead-lettered before the subscription lets it expire.
func TestWarningRetentionBeforeDeadLetter(t *testing.T) {
	set := func(attempts int, ack, retention time.Duration) func(c *Config) {
		return func(c *Config) {
			s := &c.Topics[0].Subscriptions[0]
			s.DeadLetter.MaxDeliveryAttempts, s.AckDeadline, s.MessageRetention = attempts, duration.Of(ack), duration.Of(retention)
		}
	}
	runWarnings(t, []warningCase{{
		name:   "20 attempts of 60s, kept 10m",
		change: set(20, time.Minute, 10*time.Minute),
		want: map[string][]string{"asyncjobs:topics[0].subscriptions[0].messageRetention": {
			"keeps a message 10m", "dead-lettered only 20m after its first delivery"}},
	}, {
		name:   "5 attempts of 60s, kept 10m",
		change: set(5, time.Minute, 10*time.Minute),
	}, {
		name: "backoff counts too",
		change: func(c *Config) {
			set(5, time.Minute, 10*time.Minute)(c)
			c.Topics[0].Subscriptions[0].Retry = &messaging.RetryPolicy{MinimumBackoff: duration.Of(time.Minute), MaximumBackoff: duration.Of(10 * time.Minute)}
		},
		// 5 × 1m ack + 1m + 2m + 4m + 8m backoff = 20m.
		want: map[string][]string{"asyncjobs:topics[0].subscriptions[0].messageRetention": {"20m"}},
	}})
}

// TestWarningsOrder: warnings come in a stable order, worker and queues
// first.
func TestWarningsOrder(t *testing.T) {
	ws := checkCapacity(t, func(c *Config) {
		c.Worker.Timeout = duration.Of(5 * time.Minute)
		c.Queues[0].RateLimits.MaxConcurrentDispatches = 5000
		c.Topics[0].Subscriptions[1].AckDeadline = duration.Of(60 * time.Second)
	})
	var got []string
	for _, w := range ws {
		got = append(got, w.Path)
	}
	want := []string{"asyncjobs:worker.timeout", "asyncjobs:queues[0].rateLimits.maxConcurrentDispatches", "asyncjobs:topics[0].subscriptions[1].ackDeadline"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// TestTimelines: one per queue and subscription, named by key path.
func TestTimelines(t *testing.T) {
	var got []string
	for _, n := range capacityBase(t).Timelines() {
		got = append(got, n.Kind+" "+n.Name+" "+n.Path+" "+string(n.Timeline.End))
		if n.Summary == "" {
			t.Errorf("%s %s has no summary", n.Kind, n.Name)
		}
	}
	want := []string{
		"queue q1 asyncjobs:queues[0].retry given up",
		"subscription jobs/jobs-worker asyncjobs:topics[0].subscriptions[0] dead-lettered",
		"subscription jobs/jobs-push asyncjobs:topics[0].subscriptions[1] dead-lettered",
		"subscription jobs/jobs-audit asyncjobs:topics[0].subscriptions[2] dead-lettered",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("timelines\n%v\nwant\n%v", got, want)
	}
}
