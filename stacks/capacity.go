package stacks

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/tasklimits"
	"github.com/asyncjobs/asyncjobs/internal/program/timeline"
)

// Warnings lists what is valid but deserves attention, in a stable order:
// alerting, then capacity and consistency (worker and queues, topics,
// subscribers). Call it on a configuration Load accepted. The program logs
// each one on every preview and update; make plan prints the same list.
func (c Config) Warnings() []Warning {
	return append(c.alertingWarnings(), c.capacityWarnings()...)
}

// capacityWarnings checks a configuration, defaults applied, for settings
// that are each valid but do not fit together. The order is stable: worker
// and queues, then topics, then subscribers.
func (cfg Config) capacityWarnings() []Warning {
	var ws []Warning
	add := func(p *field.Path, format string, args ...any) {
		ws = append(ws, Warning{Path: p.String(), Message: fmt.Sprintf(format, args...)})
	}
	w := cfg.Worker
	timeout := w.Timeout.Duration
	capacity := w.MaxInstances * w.Concurrency

	// Dispatch deadlines against the worker's request timeout.
	if len(cfg.Queues) > 0 {
		if timeout < tasklimits.DefaultDispatchDeadline {
			add(key("worker").Child("timeout"),
				"the worker's request timeout %s is shorter than the %s dispatch deadline Cloud Tasks gives a task created without one: "+
					"Cloud Run ends such a task's slow attempt with 504 and Cloud Tasks retries it; "+
					"create tasks with a dispatch deadline of at most %s (the enqueue tool does)",
				duration.Human(timeout), duration.Human(tasklimits.DefaultDispatchDeadline), duration.Human(timeout))
		}
		if timeout > tasklimits.MaxDispatchDeadline {
			add(key("worker").Child("timeout"),
				"the worker's request timeout %s is longer than the longest dispatch deadline Cloud Tasks allows (%s): "+
					"an attempt still running then counts as failed and is retried while the worker goes on with it, "+
					"so a task can run twice at once; keep task work under %s or lower the timeout to %s",
				duration.Human(timeout), duration.Human(tasklimits.MaxDispatchDeadline),
				duration.Human(tasklimits.MaxDispatchDeadline), duration.Human(tasklimits.MaxDispatchDeadline))
		}
	}

	// Queue concurrency against what the worker can take.
	total, each := 0, true
	for i, q := range cfg.Queues {
		n := q.RateLimits.MaxConcurrentDispatches
		total += n
		if n > capacity {
			each = false
			add(key("queues").Index(i).Child("rateLimits", "maxConcurrentDispatches"),
				"queue %s dispatches up to %d tasks at once but the worker takes at most %d (maxInstances %d × concurrency %d): "+
					"Cloud Run turns the excess away with 429 and Cloud Tasks retries it, spending attempts; "+
					"lower maxConcurrentDispatches to %d or raise asyncjobs:worker.maxInstances",
				q.Name, n, capacity, w.MaxInstances, w.Concurrency, capacity)
		}
	}
	if len(cfg.Queues) > 1 && each && total > capacity {
		add(key("queues"),
			"the queues together dispatch up to %d tasks at once but the worker takes at most %d (maxInstances %d × concurrency %d): "+
				"when they are busy together Cloud Run turns the excess away with 429",
			total, capacity, w.MaxInstances, w.Concurrency)
	}

	for i, tp := range cfg.Topics {
		for j, s := range tp.Subscriptions {
			p := key("topics").Index(i).Child("subscriptions").Index(j)
			// For push, the ack deadline is the push request's timeout.
			if ack := s.AckDeadline.Duration; s.Push != nil && ack < timeout {
				add(p.Child("ackDeadline"),
					"push subscription %s/%s waits %s for the worker's response (the ack deadline, at most 10m, is the push request timeout) "+
						"but the worker's request timeout is %s: a request still running after %s counts as failed "+
						"and Pub/Sub redelivers the message while the worker goes on with it; keep push work under %s or use a pull subscriber",
					tp.Name, s.Name, duration.Human(ack), duration.Human(timeout), duration.Human(ack), duration.Human(ack))
			}
			if t := timeline.PubSub(timelineSubscription(s)); t.TotalIfTimedOut > s.MessageRetention.Duration {
				add(p.Child("messageRetention"),
					"subscription %s/%s keeps a message %s, but a message whose attempts all run out the %s ack deadline "+
						"is dead-lettered only %s after its first delivery: it can expire instead of reaching the dead-letter topic; "+
						"raise messageRetention or lower deadLetter.maxDeliveryAttempts",
					tp.Name, s.Name, duration.Human(s.MessageRetention.Duration), duration.Human(s.AckDeadline.Duration),
					duration.Human(t.TotalIfTimedOut))
			}
		}
	}

	// An HPA's maxReplicas caps the rate a subscription is worked through
	// only while its Deployment is the subscription's one consumer.
	for i, s := range cfg.Subscribers {
		others := consumers(cfg, s.Subscription, i)
		if len(others) == 0 {
			continue
		}
		add(key("subscribers").Index(i).Child("maxReplicas"),
			"maxReplicas %d is meant to cap how fast %s is worked through, but %s also consume it, so the cap does not hold; "+
				"give the subscription one consumer, or a subscription of its own to each",
			s.MaxReplicas, s.Subscription, strings.Join(others, ", "))
	}
	return ws
}

// consumers lists what else pulls the subscription ref ("topic/name")
// besides subscriber Deployment self.
func consumers(cfg Config, ref string, self int) []string {
	var out []string
	for i, s := range cfg.Subscribers {
		if i != self && s.Subscription == ref {
			out = append(out, fmt.Sprintf("subscriber %s (maxReplicas %d)", s.Name, s.MaxReplicas))
		}
	}
	for _, j := range cfg.CronJobs {
		if j.GoogleServiceAccount == nil {
			continue
		}
		for _, g := range j.GoogleServiceAccount.Grants {
			if g.Subscription == ref && g.Role == gcpiam.RolePubSubSubscriber {
				out = append(out, "CronJob "+j.Name)
			}
		}
	}
	for _, tp := range cfg.Topics {
		for _, s := range tp.Subscriptions {
			if tp.Name+"/"+s.Name == ref {
				for _, m := range s.Subscribers {
					out = append(out, "IAM member "+m)
				}
			}
		}
	}
	return out
}

// Timelines returns the retry timeline of every queue and subscription, in
// configuration order.
func (cfg Config) Timelines() []timeline.Named {
	var out []timeline.Named
	for i, q := range cfg.Queues {
		out = append(out, timeline.ForQueue(key("queues").Index(i).Child("retry").String(), q.Name, timelineRetry(q.Retry)))
	}
	for i, tp := range cfg.Topics {
		for j, s := range tp.Subscriptions {
			p := key("topics").Index(i).Child("subscriptions").Index(j)
			out = append(out, timeline.ForSubscription(p.String(), tp.Name+"/"+s.Name, timelineSubscription(s)))
		}
	}
	return out
}
