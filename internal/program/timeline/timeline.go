// Package timeline turns the retry settings of a stack into the schedules
// they produce (when each attempt happens, when a task is given up, when a
// message is dead-lettered). It takes its own input types, TaskRetry and
// Subscription, holding only the settings it reads, and imports none of the
// components: package stacks converts a queue's or subscription's
// configuration to them, and the stack's warnings built on it live there
// too. Nothing here talks to Google Cloud: the schedules follow the
// documented semantics of Cloud Tasks (google.cloud.tasks.v2.RetryConfig)
// and Pub/Sub (RetryPolicy, DeadLetterPolicy).
package timeline

import (
	"encoding/json"
	"time"
)

// TaskRetention is Cloud Tasks' maximum task retention: a task is deleted
// 31 days after it was created, whatever its retry configuration says.
const TaskRetention = 31 * 24 * time.Hour

// MaxListed caps the intervals a Timeline keeps; Attempts and Total are
// still exact beyond it.
const MaxListed = 1000

// UnlimitedAttempts is the TaskRetry.MaxAttempts that sets no attempt limit
// (Cloud Tasks' -1).
const UnlimitedAttempts = -1

// TaskRetry is the retry configuration of a Cloud Tasks queue
// (google.cloud.tasks.v2.RetryConfig).
type TaskRetry struct {
	// MaxAttempts counts the first attempt; UnlimitedAttempts sets no limit.
	MaxAttempts int
	// MaxRetryDuration is the time limit for retrying; 0 sets no limit.
	MaxRetryDuration time.Duration
	MinBackoff       time.Duration
	MaxBackoff       time.Duration
	MaxDoublings     int
}

// Subscription is what a Pub/Sub subscription's redelivery timeline
// depends on: its ack deadline, retry policy (RetryPolicy) and dead-letter
// policy (DeadLetterPolicy.maxDeliveryAttempts).
type Subscription struct {
	AckDeadline time.Duration
	// RetryPolicy reports whether the subscription has a retry policy;
	// without one a message is redelivered at once and the backoffs are
	// ignored.
	RetryPolicy    bool
	MinimumBackoff time.Duration
	MaximumBackoff time.Duration
	// MaxDeliveryAttempts is the number of delivery attempts before a
	// message is dead-lettered.
	MaxDeliveryAttempts int
}

// End says how a timeline ends.
type End string

// How timelines end.
const (
	// GivenUp: the retry limits are reached and Cloud Tasks deletes the task.
	GivenUp End = "given up"
	// Expired: no limit ends the retries (or the next retry would come
	// after it), so the task is retried until Cloud Tasks deletes it at the
	// end of its retention.
	Expired End = "expired"
	// DeadLettered: Pub/Sub forwards the message to the dead-letter topic.
	DeadLettered End = "dead-lettered"
)

// Timeline is the schedule a retry configuration produces for a task or
// message whose every attempt fails. Times are measured from the first
// attempt and assume each attempt fails at once (an error response or a
// nack); AckDeadline and TotalIfTimedOut describe Pub/Sub attempts that
// instead hold the message until the ack deadline runs out.
type Timeline struct {
	// Attempts is the number of attempts, the first included. It is 0 for
	// an Expired Cloud Tasks timeline whose every interval is 0: the task
	// is retried as fast as the queue dispatches.
	Attempts int
	// Intervals[i] is the wait before attempt i+2, at most MaxListed of
	// them.
	Intervals []time.Duration
	// Total is the time from the first attempt to the last one (Cloud
	// Tasks; TaskRetention when Attempts is 0) or to the message being
	// dead-lettered (Pub/Sub).
	Total time.Duration
	End   End
	// AckDeadline is how long a Pub/Sub attempt holds the message before it
	// counts as failed; 0 for Cloud Tasks.
	AckDeadline time.Duration
	// TotalIfTimedOut is when a Pub/Sub message is dead-lettered if every
	// attempt runs out its ack deadline instead of failing at once.
	TotalIfTimedOut time.Duration
}

// Listed reports whether Intervals holds every interval.
func (t Timeline) Listed() bool { return len(t.Intervals) == t.Attempts-1 }

// Starts returns when each listed attempt starts, measured from the first,
// with every attempt failing at once.
func (t Timeline) Starts() []time.Duration {
	if t.Attempts == 0 {
		return nil
	}
	at := make([]time.Duration, 0, len(t.Intervals)+1)
	var sum time.Duration
	at = append(at, 0)
	for _, d := range t.Intervals {
		sum += d
		at = append(at, sum)
	}
	return at
}

// CloudTasks returns the retry timeline of a Cloud Tasks queue.
//
// The interval starts at minBackoff, doubles maxDoublings times, then grows
// linearly by 2^maxDoublings × minBackoff, capped at maxBackoff. Retrying
// stops only once both limits are reached: maxAttempts attempts and
// maxRetryDuration since the first attempt. An unlimited limit (-1
// attempts, a 0s duration) leaves the other one to decide; with both
// unlimited the task is retried until its retention ends. The API truncates
// the durations to whole seconds, and so does this.
func CloudTasks(r TaskRetry) Timeline {
	minB := r.MinBackoff.Truncate(time.Second)
	maxB := max(r.MaxBackoff.Truncate(time.Second), minB) // Validate rejects less; stay finite
	limit := r.MaxRetryDuration.Truncate(time.Second)
	unlimitedAttempts := r.MaxAttempts == UnlimitedAttempts
	endless := unlimitedAttempts && limit <= 0
	done := func(attempts int, at time.Duration) bool {
		return !endless &&
			(unlimitedAttempts || attempts >= r.MaxAttempts) &&
			(limit <= 0 || at >= limit)
	}

	if minB <= 0 {
		// Every interval is 0: time stands still, so only an attempt limit
		// can end the retries.
		if !done(r.MaxAttempts, 0) {
			return Timeline{End: Expired, Total: TaskRetention}
		}
		return Timeline{Attempts: r.MaxAttempts, Intervals: make([]time.Duration, min(r.MaxAttempts-1, MaxListed)), End: GivenUp}
	}
	t := Timeline{Attempts: 1, End: GivenUp}
	next := backoff(minB, maxB, r.MaxDoublings)
	for !done(t.Attempts, t.Total) {
		d := next()
		if t.Total+d > TaskRetention {
			t.End = Expired
			break
		}
		t.Total += d
		t.Attempts++
		if len(t.Intervals) < MaxListed {
			t.Intervals = append(t.Intervals, d)
		}
	}
	return t
}

// backoff returns Cloud Tasks' retry intervals one at a time, for
// 0 < minB <= maxB. It saturates at maxB instead of overflowing.
func backoff(minB, maxB time.Duration, maxDoublings int) func() time.Duration {
	cur := minB
	var step time.Duration // 2^maxDoublings × minBackoff, once the doubling is over
	doublings := 0
	return func() time.Duration {
		d := cur
		switch {
		case cur >= maxB:
		case doublings < maxDoublings:
			doublings++
			cur = addCapped(cur, cur, maxB)
		default:
			if step == 0 {
				step = cur
			}
			cur = addCapped(cur, step, maxB)
		}
		return d
	}
}

// addCapped returns min(a+b, limit) for non-negative a, b.
func addCapped(a, b, limit time.Duration) time.Duration {
	if a > limit-b {
		return limit
	}
	return a + b
}

// PubSub returns the redelivery timeline of a subscription for a message
// that is never acknowledged, until it is dead-lettered after
// MaxDeliveryAttempts delivery attempts. With a retry policy
// the redelivery delay starts at minimumBackoff and doubles up to
// maximumBackoff; without one the message is redelivered at once. Pub/Sub
// applies both on a best-effort basis, so real delays and attempt counts
// can differ somewhat.
func PubSub(s Subscription) Timeline {
	n := max(s.MaxDeliveryAttempts, 1)
	t := Timeline{Attempts: n, End: DeadLettered, AckDeadline: s.AckDeadline}
	var cur, maxB time.Duration
	if s.RetryPolicy {
		cur, maxB = s.MinimumBackoff, s.MaximumBackoff
		cur = min(cur, maxB)
	}
	for i := 1; i < n; i++ {
		t.Intervals = append(t.Intervals, cur)
		t.Total += cur
		cur = addCapped(cur, cur, maxB)
	}
	t.TotalIfTimedOut = t.Total + time.Duration(n)*t.AckDeadline
	return t
}

// MarshalJSON writes durations as seconds.
func (t Timeline) MarshalJSON() ([]byte, error) {
	type pubsub struct {
		AckDeadline     float64 `json:"ackDeadlineSeconds"`
		TotalIfTimedOut float64 `json:"totalIfTimedOutSeconds"`
	}
	v := struct {
		End       End       `json:"end"`
		Attempts  int       `json:"attempts"`
		Intervals []float64 `json:"intervalsSeconds"`
		Starts    []float64 `json:"startsSeconds"`
		Listed    bool      `json:"listed"`
		Total     float64   `json:"totalSeconds"`
		*pubsub
	}{End: t.End, Attempts: t.Attempts, Intervals: seconds(t.Intervals), Starts: seconds(t.Starts()), Listed: t.Listed(), Total: t.Total.Seconds()}
	if t.End == DeadLettered {
		v.pubsub = &pubsub{AckDeadline: t.AckDeadline.Seconds(), TotalIfTimedOut: t.TotalIfTimedOut.Seconds()}
	}
	return json.Marshal(v)
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}
