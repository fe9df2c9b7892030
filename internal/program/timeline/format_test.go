package timeline

import (
	"strings"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

func TestFormatTimelines(t *testing.T) {
	r := retry(9, 10*time.Second, 300*time.Second, 3, 0)
	q := CloudTasks(r)
	s := subscription(60*time.Second, 5)
	p := PubSub(s)
	var b strings.Builder
	if err := FormatTimelines(&b, []Named{
		{Path: "asyncjobs:queues[0].retry", Kind: "queue", Name: "q", Summary: cloudTasksSummary(r, q), Timeline: q},
		{Path: "asyncjobs:topics[0].subscriptions[0]", Kind: "subscription", Name: "jobs/jobs-worker", Summary: pubSubSummary(s, p), Timeline: p},
	}); err != nil {
		t.Fatal(err)
	}
	want := `Retry timelines (times from the first attempt, every attempt failing at once unless said otherwise)

queue q (asyncjobs:queues[0].retry)
  9 attempts over 19m10s, then the task is deleted: retrying stops once maxAttempts 9 and maxRetryDuration 0s (unlimited) are both reached
    attempt  after      at
          1             0s
          2    10s     10s
          3    20s     30s
          4    40s   1m10s
          5  1m20s   2m30s
          6  2m40s   5m10s
          7     4m   9m10s
          8     5m  14m10s
          9     5m  19m10s

subscription jobs/jobs-worker (asyncjobs:topics[0].subscriptions[0])
  dead-lettered after 5 delivery attempts: 0s after the first delivery when every attempt is nacked, ` +
		`5m when every attempt runs out the 1m ack deadline; redelivered at once (no retry policy); Pub/Sub applies both best effort
          attempt  after  at  at if each times out
                1         0s                    0s
                2     0s  0s                    1m
                3     0s  0s                    2m
                4     0s  0s                    3m
                5     0s  0s                    4m
    dead-lettered         0s                    5m
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestFormatLongTimeline: a long timeline shows its first attempts and
// counts the rest.
func TestFormatLongTimeline(t *testing.T) {
	r := retry(50, 10*time.Second, 3600*time.Second, 3, 24*time.Hour) // the prod queue
	tl := CloudTasks(r)
	var b strings.Builder
	if err := FormatTimelines(&b, []Named{{Kind: "queue", Name: "q", Summary: cloudTasksSummary(r, tl), Timeline: tl}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "\n"); n != 4+1+shownRows+1 {
		t.Errorf("%d lines, want the heading, summary, table header, %d rows and the rest:\n%s", n, shownRows, out)
	}
	if want := "  … 40 more attempts, the last at " + duration.Human(tl.Total) + "\n"; !strings.HasSuffix(out, want) {
		t.Errorf("output does not end with %q:\n%s", want, out)
	}
}

// TestSummaries: each way a Cloud Tasks timeline can end is told apart.
func TestSummaries(t *testing.T) {
	cases := []struct {
		name string
		a    int
		min  time.Duration
		lim  time.Duration
		want []string
	}{
		{"given up", 10, 10 * time.Second, 0,
			[]string{"10 attempts over 29m10s, then the task is deleted", "maxAttempts 10 and maxRetryDuration 0s (unlimited) are both reached"}},
		{"given up by duration", -1, 10 * time.Second, time.Hour, []string{"then the task is deleted", "maxAttempts -1 (unlimited) and maxRetryDuration 1h"}},
		{"no limit", -1, 10 * time.Second, 0, []string{"never given up", "set no limit", "31d after it was created"}},
		{"limits beyond the retention", -1, 10 * time.Second, 40 * 24 * time.Hour,
			[]string{"never given up", "are not both reached before Cloud Tasks deletes the task 31d"}},
		{"zero backoff, no limit", -1, 0, 0, []string{"never given up", "set no limit and minBackoff is 0s", "without pause"}},
		{"zero backoff, duration limit", 10, 0, time.Hour,
			[]string{"never given up", "minBackoff is 0s, so no time passes", "maxRetryDuration 1h are never both reached"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := retry(tc.a, tc.min, 3600*time.Second, 3, tc.lim)
			got := cloudTasksSummary(r, CloudTasks(r))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("summary lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestPubSubSummaries: a retry policy is told apart from none, even one
// whose backoffs are 0s and so gives the same intervals.
func TestPubSubSummaries(t *testing.T) {
	none := subscription(60*time.Second, 5)
	for _, tc := range []struct {
		name string
		s    Subscription
		want string
	}{
		{"no retry policy", none, "; redelivered at once (no retry policy);"},
		{"retry policy", withRetryPolicy(none, 10*time.Second, 10*time.Minute), "; redelivery backoff from 10s doubling up to 10m;"},
		{"retry policy of 0s", withRetryPolicy(none, 0, 0), "; redelivery backoff from 0s doubling up to 0s;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pubSubSummary(tc.s, PubSub(tc.s)); !strings.Contains(got, tc.want) {
				t.Errorf("summary lacks %q:\n%s", tc.want, got)
			}
		})
	}
}
