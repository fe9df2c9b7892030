package timeline

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

// Rows of a timeline printed in full; a longer one shows its first
// shownRows attempts and a line for the rest.
const (
	fullRows  = 15
	shownRows = 10
)

// cloudTasksSummary says in one sentence how a queue's retries end.
func cloudTasksSummary(r TaskRetry, t Timeline) string {
	limits := fmt.Sprintf("maxAttempts %s and maxRetryDuration %s", attemptsText(r.MaxAttempts), retryDurationText(r.MaxRetryDuration))
	noLimit := r.MaxAttempts == UnlimitedAttempts && r.MaxRetryDuration.Truncate(time.Second) <= 0
	switch {
	case t.End == GivenUp:
		return fmt.Sprintf("%s over %s, then the task is deleted: retrying stops once %s are both reached",
			plural(t.Attempts, "attempt"), duration.Human(t.Total), limits)
	case t.Attempts == 0 && noLimit:
		return fmt.Sprintf("never given up: %s set no limit and minBackoff is 0s, "+
			"so the task is retried without pause until Cloud Tasks deletes it %s after it was created", limits, duration.Human(TaskRetention))
	case t.Attempts == 0:
		return fmt.Sprintf("never given up: minBackoff is 0s, so no time passes between attempts and %s are never both reached; "+
			"the task is retried without pause until Cloud Tasks deletes it %s after it was created", limits, duration.Human(TaskRetention))
	case noLimit:
		return fmt.Sprintf("%s over %s, never given up: %s set no limit, so the task is retried until Cloud Tasks deletes it %s after it was created",
			plural(t.Attempts, "attempt"), duration.Human(t.Total), limits, duration.Human(TaskRetention))
	default:
		return fmt.Sprintf("%s over %s, never given up: %s are not both reached before Cloud Tasks deletes the task %s after it was created",
			plural(t.Attempts, "attempt"), duration.Human(t.Total), limits, duration.Human(TaskRetention))
	}
}

// pubSubSummary says in one sentence when a subscription dead-letters.
func pubSubSummary(s Subscription, t Timeline) string {
	redelivery := "redelivered at once (no retry policy)"
	if s.RetryPolicy {
		redelivery = fmt.Sprintf("redelivery backoff from %s doubling up to %s", duration.Human(s.MinimumBackoff), duration.Human(s.MaximumBackoff))
	}
	return fmt.Sprintf("dead-lettered after %s: %s after the first delivery when every attempt is nacked, "+
		"%s when every attempt runs out the %s ack deadline; %s; Pub/Sub applies both best effort",
		plural(t.Attempts, "delivery attempt"), duration.Human(t.Total), duration.Human(t.TotalIfTimedOut), duration.Human(t.AckDeadline), redelivery)
}

// Named is a timeline with the configuration it comes from.
type Named struct {
	// Path is the configuration key path of the retry settings.
	Path string `json:"path"`
	// Kind is "queue" or "subscription".
	Kind string `json:"kind"`
	// Name is the queue name or "<topic>/<subscription>".
	Name string `json:"name"`
	// Summary says in one sentence how the retries end.
	Summary  string   `json:"summary"`
	Timeline Timeline `json:"timeline"`
}

// ForQueue is the timeline of a queue's retry configuration at path.
func ForQueue(path, name string, r TaskRetry) Named {
	t := CloudTasks(r)
	return Named{Path: path, Kind: "queue", Name: name, Summary: cloudTasksSummary(r, t), Timeline: t}
}

// ForSubscription is the timeline of a subscription configured at path.
func ForSubscription(path, name string, s Subscription) Named {
	t := PubSub(s)
	return Named{Path: path, Kind: "subscription", Name: name, Summary: pubSubSummary(s, t), Timeline: t}
}

// FormatTimelines writes every timeline as text: a heading, then per
// timeline its summary and a table of attempts.
func FormatTimelines(w io.Writer, ts []Named) error {
	var b strings.Builder
	b.WriteString("Retry timelines (times from the first attempt, every attempt failing at once unless said otherwise)\n")
	for _, n := range ts {
		fmt.Fprintf(&b, "\n%s %s (%s)\n  %s\n", n.Kind, n.Name, n.Path, n.Summary)
		writeRows(&b, n.Timeline)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRows(b *strings.Builder, t Timeline) {
	if t.Attempts == 0 {
		return
	}
	pubsub := t.End == DeadLettered
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	if pubsub {
		fmt.Fprintln(tw, "attempt\tafter\tat\tat if each times out\t")
	} else {
		fmt.Fprintln(tw, "attempt\tafter\tat\t")
	}
	starts := t.Starts()
	shown := len(starts)
	if t.Attempts > fullRows {
		shown = min(shown, shownRows)
	}
	for i := range shown {
		after := ""
		if i > 0 {
			after = duration.Human(t.Intervals[i-1])
		}
		if pubsub {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\n", i+1, after, duration.Human(starts[i]), duration.Human(starts[i]+time.Duration(i)*t.AckDeadline))
		} else {
			fmt.Fprintf(tw, "%d\t%s\t%s\t\n", i+1, after, duration.Human(starts[i]))
		}
	}
	if pubsub {
		fmt.Fprintf(tw, "dead-lettered\t\t%s\t%s\t\n", duration.Human(t.Total), duration.Human(t.TotalIfTimedOut))
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		if line != "" {
			b.WriteString("  " + line)
		}
	}
	if rest := t.Attempts - shown; rest > 0 {
		fmt.Fprintf(b, "  … %d more attempts, the last at %s\n", rest, duration.Human(t.Total))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func attemptsText(n int) string {
	if n == UnlimitedAttempts {
		return "-1 (unlimited)"
	}
	return fmt.Sprint(n)
}

func retryDurationText(d time.Duration) string {
	if d.Truncate(time.Second) <= 0 {
		return "0s (unlimited)"
	}
	return duration.Human(d)
}
