package timeline

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func secs(ns ...int) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n) * time.Second
	}
	return out
}

func retry(attempts int, minB, maxB time.Duration, doublings int, limit time.Duration) TaskRetry {
	return TaskRetry{
		MaxAttempts:      attempts,
		MinBackoff:       minB,
		MaxBackoff:       maxB,
		MaxDoublings:     doublings,
		MaxRetryDuration: limit,
	}
}

// TestCloudTasksIntervals: the interval starts at minBackoff, doubles
// maxDoublings times, then grows by 2^maxDoublings × minBackoff up to
// maxBackoff.
func TestCloudTasksIntervals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		r     TaskRetry
		want  []time.Duration
		total time.Duration
	}{{
		// google.cloud.tasks.v2.RetryConfig.max_doublings, word for word.
		name:  "documented example: min 10s, max 300s, 3 doublings",
		r:     retry(9, 10*time.Second, 300*time.Second, 3, 0),
		want:  secs(10, 20, 40, 80, 160, 240, 300, 300),
		total: 1150 * time.Second,
	}, {
		// The dev stack's queue (Pulumi.dev.yaml); it shows the first six intervals.
		name:  "dev queue: min 10s, max 3600s, 3 doublings, 10 attempts",
		r:     retry(10, 10*time.Second, 3600*time.Second, 3, 0),
		want:  secs(10, 20, 40, 80, 160, 240, 320, 400, 480),
		total: 29*time.Minute + 10*time.Second,
	}, {
		// queue.yaml's barqueue example: linear from the start.
		name:  "no doubling: grows by minBackoff",
		r:     retry(22, 10*time.Second, 200*time.Second, 0, 0),
		want:  secs(10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 200),
		total: 2300 * time.Second,
	}, {
		name:  "doubling reaches maxBackoff before maxDoublings",
		r:     retry(6, 10*time.Second, 50*time.Second, 16, 0),
		want:  secs(10, 20, 40, 50, 50),
		total: 170 * time.Second,
	}, {
		name:  "minBackoff equal to maxBackoff",
		r:     retry(4, 30*time.Second, 30*time.Second, 3, 0),
		want:  secs(30, 30, 30),
		total: 90 * time.Second,
	}, {
		name:  "the API truncates durations to whole seconds",
		r:     retry(4, 1500*time.Millisecond, 5900*time.Millisecond, 5, 0),
		want:  secs(1, 2, 4),
		total: 7 * time.Second,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := CloudTasks(tc.r)
			if !reflect.DeepEqual(got.Intervals, tc.want) {
				t.Errorf("intervals %v, want %v", got.Intervals, tc.want)
			}
			if got.Attempts != len(tc.want)+1 || got.Total != tc.total || got.End != GivenUp || !got.Listed() {
				t.Errorf("%d attempts over %s, %s, listed %v; want %d over %s, given up, listed",
					got.Attempts, got.Total, got.End, got.Listed(), len(tc.want)+1, tc.total)
			}
		})
	}
}

// TestCloudTasksGiveUp: retrying stops only once both maxAttempts and
// maxRetryDuration are reached; an unlimited one leaves it to the other,
// and with both unlimited the task lives until its 31-day retention.
func TestCloudTasksGiveUp(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name     string
		r        TaskRetry
		attempts int
		total    time.Duration
		end      End
	}{
		{"one attempt, no duration limit", retry(1, 10*s, 10*s, 0, 0), 1, 0, GivenUp},
		{"attempts limit only", retry(5, 10*s, 10*s, 0, 0), 5, 40 * s, GivenUp},
		// 3 attempts are made by 20s; retrying goes on until 100s have passed.
		{"duration reached after the attempts", retry(3, 10*s, 10*s, 0, 100*s), 11, 100 * s, GivenUp},
		// 15s have passed at the third attempt; retrying goes on to 5 attempts.
		{"attempts reached after the duration", retry(5, 10*s, 10*s, 0, 15*s), 5, 40 * s, GivenUp},
		// The attempt at 60s is the first one at or past the limit.
		{"duration limit with unlimited attempts", retry(-1, 10*s, 10*s, 0, 60*s), 7, 60 * s, GivenUp},
		{"duration limit between attempts", retry(-1, 10*s, 10*s, 0, 55*s), 7, 60 * s, GivenUp},
		{"one attempt with a duration limit", retry(1, 10*s, 10*s, 0, 25*s), 4, 30 * s, GivenUp},
		// 31 days of hourly retries: the attempt at 744h is the last.
		{"both unlimited: retention", retry(-1, time.Hour, time.Hour, 0, 0), 745, TaskRetention, Expired},
		{"limits beyond the retention", retry(100000, time.Hour, time.Hour, 0, 0), 745, TaskRetention, Expired},
		{"retry duration beyond the retention", retry(1, time.Hour, time.Hour, 0, 40*24*time.Hour), 745, TaskRetention, Expired},
		// A 10h interval does not fit after the attempt at 740h.
		{"last retry would come after the retention", retry(-1, 10*time.Hour, 10*time.Hour, 0, 0), 75, 740 * time.Hour, Expired},
		// Cloud Tasks' documented 0.1s default minBackoff is sent, and applied, as 0s.
		{"zero minBackoff: only the attempt limit counts", retry(100, 100*time.Millisecond, time.Hour, 16, 0), 100, 0, GivenUp},
		{"zero minBackoff with a duration limit", retry(100, 0, time.Hour, 16, time.Hour), 0, TaskRetention, Expired},
		{"zero minBackoff, both unlimited", retry(-1, 0, 0, 0, 0), 0, TaskRetention, Expired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CloudTasks(tc.r)
			if got.Attempts != tc.attempts || got.Total != tc.total || got.End != tc.end {
				t.Errorf("%d attempts, total %s, %s; want %d, %s, %s", got.Attempts, got.Total, got.End, tc.attempts, tc.total, tc.end)
			}
			if got.Attempts > 0 && !got.Listed() {
				t.Errorf("%d attempts but %d intervals", got.Attempts, len(got.Intervals))
			}
			var sum time.Duration
			for _, d := range got.Intervals {
				sum += d
			}
			if got.Attempts > 0 && sum != got.Total {
				t.Errorf("intervals add up to %s, total is %s", sum, got.Total)
			}
		})
	}
}

// TestCloudTasksListingCap: a long timeline keeps MaxListed intervals but
// counts every attempt.
func TestCloudTasksListingCap(t *testing.T) {
	got := CloudTasks(retry(-1, time.Second, time.Second, 0, 0))
	if want := int(TaskRetention/time.Second) + 1; got.Attempts != want {
		t.Errorf("%d attempts, want %d", got.Attempts, want)
	}
	if len(got.Intervals) != MaxListed || got.Listed() {
		t.Errorf("%d intervals kept (listed %v), want %d", len(got.Intervals), got.Listed(), MaxListed)
	}
	if got.Total != TaskRetention || got.End != Expired {
		t.Errorf("total %s, %s", got.Total, got.End)
	}
}

func TestStarts(t *testing.T) {
	got := CloudTasks(retry(5, 10*time.Second, 300*time.Second, 3, 0)).Starts()
	if want := secs(0, 10, 30, 70, 150); !reflect.DeepEqual(got, want) {
		t.Errorf("starts %v, want %v", got, want)
	}
	if got := CloudTasks(retry(-1, 0, 0, 0, 0)).Starts(); got != nil {
		t.Errorf("starts %v for a timeline without a count of attempts", got)
	}
}

// subscription is a subscription without a retry policy; withRetryPolicy
// gives it one.
func subscription(ack time.Duration, attempts int) Subscription {
	return Subscription{AckDeadline: ack, MaxDeliveryAttempts: attempts}
}

func withRetryPolicy(s Subscription, minB, maxB time.Duration) Subscription {
	s.RetryPolicy, s.MinimumBackoff, s.MaximumBackoff = true, minB, maxB
	return s
}

// TestPubSub: exponential redelivery backoff (or none), and when a message
// that is never acknowledged is dead-lettered.
func TestPubSub(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        Subscription
		want     []time.Duration
		total    time.Duration
		timedOut time.Duration
		attempts int
		ack      time.Duration
	}{{
		// The dev stack: immediate redelivery, 5 attempts, 60s ack deadline.
		name:     "no retry policy: redelivered at once",
		s:        subscription(60*time.Second, 5),
		want:     secs(0, 0, 0, 0),
		total:    0,
		timedOut: 5 * time.Minute,
		attempts: 5,
		ack:      time.Minute,
	}, {
		// The prod stack's pull subscription.
		name:     "exponential from 10s, capped at 600s",
		s:        withRetryPolicy(subscription(120*time.Second, 10), 10*time.Second, 600*time.Second),
		want:     secs(10, 20, 40, 80, 160, 320, 600, 600, 600),
		total:    2430 * time.Second,
		timedOut: 2430*time.Second + 10*120*time.Second,
		attempts: 10,
		ack:      120 * time.Second,
	}, {
		name:     "minimum equal to maximum",
		s:        withRetryPolicy(subscription(10*time.Second, 5), 30*time.Second, 30*time.Second),
		want:     secs(30, 30, 30, 30),
		total:    120 * time.Second,
		timedOut: 170 * time.Second,
		attempts: 5,
		ack:      10 * time.Second,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := PubSub(tc.s)
			if !reflect.DeepEqual(got.Intervals, tc.want) {
				t.Errorf("intervals %v, want %v", got.Intervals, tc.want)
			}
			if got.Attempts != tc.attempts || got.End != DeadLettered || got.AckDeadline != tc.ack {
				t.Errorf("%d attempts, %s, ack %s; want %d attempts, dead-lettered, ack %s", got.Attempts, got.End, got.AckDeadline, tc.attempts, tc.ack)
			}
			if got.Total != tc.total || got.TotalIfTimedOut != tc.timedOut {
				t.Errorf("dead-lettered at %s / %s if timed out, want %s / %s", got.Total, got.TotalIfTimedOut, tc.total, tc.timedOut)
			}
		})
	}
}

// TestJSON: plan.json carries durations as seconds, and the Pub/Sub fields
// only on Pub/Sub timelines.
func TestJSON(t *testing.T) {
	b, err := json.Marshal(CloudTasks(retry(4, 10*time.Second, 300*time.Second, 3, 0)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"end":"given up","attempts":4,"intervalsSeconds":[10,20,40],"startsSeconds":[0,10,30,70],"listed":true,"totalSeconds":70}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, err = json.Marshal(PubSub(subscription(60*time.Second, 5)))
	if err != nil {
		t.Fatal(err)
	}
	want = `{"end":"dead-lettered","attempts":5,"intervalsSeconds":[0,0,0,0],"startsSeconds":[0,0,0,0,0],"listed":true,` +
		`"totalSeconds":0,"ackDeadlineSeconds":60,"totalIfTimedOutSeconds":300}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
