package stacks

import (
	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/components/taskqueue"
	"github.com/asyncjobs/asyncjobs/internal/program/timeline"
)

// timelineRetry is the timeline input of a queue's retry configuration.
func timelineRetry(r taskqueue.RetryConfig) timeline.TaskRetry {
	attempts := r.MaxAttempts
	if attempts == taskqueue.UnlimitedAttempts {
		attempts = timeline.UnlimitedAttempts
	}
	return timeline.TaskRetry{
		MaxAttempts:      attempts,
		MaxRetryDuration: r.MaxRetryDuration.Duration,
		MinBackoff:       r.MinBackoff.Duration,
		MaxBackoff:       r.MaxBackoff.Duration,
		MaxDoublings:     r.MaxDoublings,
	}
}

// timelineSubscription is the timeline input of a subscription's configuration.
func timelineSubscription(s messaging.SubscriptionSpec) timeline.Subscription {
	t := timeline.Subscription{AckDeadline: s.AckDeadline.Duration, MaxDeliveryAttempts: s.DeadLetter.MaxDeliveryAttempts}
	if s.Retry != nil {
		t.RetryPolicy, t.MinimumBackoff, t.MaximumBackoff = true, s.Retry.MinimumBackoff.Duration, s.Retry.MaximumBackoff.Duration
	}
	return t
}
