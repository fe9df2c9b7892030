package monitoring

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

// Severities of alert policies.
const (
	SeverityCritical = "CRITICAL"
	SeverityError    = "ERROR"
	SeverityWarning  = "WARNING"
)

// Alert kinds, the asyncjobs-alert user label of each policy.
const (
	KindOldestUnacked  = "oldest-unacked-message"
	KindUndelivered    = "undelivered-messages"
	KindDeadLettered   = "dead-lettered-messages"
	KindDeadLetterWait = "dead-letters-waiting"
	KindQueueDepth     = "queue-depth"
	KindFailedAttempts = "failed-task-attempts"
	KindWorker5xx      = "worker-5xx"
	KindCronJobFailed  = "cronjob-failed"
	KindCronJobMissed  = "cronjob-missed"
	KindCronJobOverdue = "cronjob-overdue"
)

// AlertLabel is the user label naming an alert policy's kind.
const AlertLabel = "asyncjobs-alert"

// Base names of the stack's log-based metrics; the stack's name suffix is
// appended. The completions counter is the project's
// (MetricCronJobCompleted).
const (
	MetricCronJobFailed = "asyncjobs-cronjob-failed"
	MetricCronJobMissed = "asyncjobs-cronjob-missed"
)

// Aggregation is one Cloud Monitoring aggregation.
type Aggregation struct {
	Alignment time.Duration
	Aligner   string
	Reducer   string
	GroupBy   []string
}

// Condition is an alert policy's one condition: a threshold, the absence
// of data when Absent is set, or log entries matching LogMatch.
type Condition struct {
	DisplayName string
	Filter      string
	// LogMatch is a Cloud Logging query: the policy fires on every matching
	// entry. It reads the logs themselves, so unlike a condition on a
	// log-based metric it can be created the moment the stack is: Cloud
	// Monitoring answers 404 "Cannot find metric(s)" for up to 10 minutes
	// after a log-based metric is created, and the provider does not retry.
	LogMatch    string
	Absent      bool
	Comparison  string
	Threshold   float64
	Duration    time.Duration
	Aggregation Aggregation
}

// Alert is one alert policy before it is declared.
type Alert struct {
	// Key names the policy's resource: <component>-<key>.
	Key         string
	Kind        string
	Resource    string
	DisplayName string
	Severity    string
	Subject     string
	Docs        string
	Condition   Condition
}

// Alerts returns every alert policy of the stack, in a stable order:
// worker, subscriptions, queues, CronJobs. It fails only if a runbook
// template cannot be rendered.
func Alerts(a Args) ([]Alert, error) {
	r := &renderer{}
	t := a.Spec.Thresholds
	window, wait := t.Window.Duration, t.Duration.Duration
	var out []Alert
	add := func(al Alert) {
		al.DisplayName = fmt.Sprintf("[%s] %s", a.Spec.Names.Stack, al.DisplayName)
		al.Condition.DisplayName = al.Subject
		al.Subject = fmt.Sprintf("[%s] %s", a.Spec.Names.Stack, al.Subject)
		out = append(out, al)
	}

	w := a.Worker
	add(Alert{
		Key: "worker-5xx", Kind: KindWorker5xx, Resource: w.Service, Severity: SeverityError,
		DisplayName: fmt.Sprintf("worker %s: 5xx responses", w.Service),
		Subject:     fmt.Sprintf("worker %s answers with 5xx above %s/s", w.Service, number(t.Worker5xxPerSecond)),
		Docs:        r.worker5xxDocs(a),
		Condition: Condition{
			Filter:     ServiceFilter(MetricRunRequests, a.Project, w.Region, w.Service) + ` AND metric.label.response_code_class="5xx"`,
			Comparison: "COMPARISON_GT", Threshold: t.Worker5xxPerSecond, Duration: wait,
			Aggregation: Aggregation{Alignment: window, Aligner: "ALIGN_RATE", Reducer: "REDUCE_SUM", GroupBy: []string{"resource.label.service_name"}},
		},
	})

	for _, s := range a.Subscriptions {
		age := s.OldestUnackedAge(t)
		add(Alert{
			Key: "sub-" + s.Ref.key() + "-oldest-unacked", Kind: KindOldestUnacked, Resource: s.Name, Severity: SeverityError,
			DisplayName: fmt.Sprintf("subscription %s: oldest unacked message", s.Name),
			Subject:     fmt.Sprintf("subscription %s has a message unacked for more than %s", s.Name, duration.Human(age)),
			Docs:        r.oldestUnackedDocs(a, s, age),
			Condition: Condition{
				Filter:     SubscriptionFilter(MetricOldestUnackedAge, a.Project, s.Name),
				Comparison: "COMPARISON_GT", Threshold: age.Seconds(), Duration: wait,
				Aggregation: Aggregation{Alignment: window, Aligner: "ALIGN_MAX"},
			},
		})
		add(Alert{
			Key: "sub-" + s.Ref.key() + "-undelivered", Kind: KindUndelivered, Resource: s.Name, Severity: SeverityWarning,
			DisplayName: fmt.Sprintf("subscription %s: undelivered messages", s.Name),
			Subject:     fmt.Sprintf("subscription %s has more than %d undelivered messages", s.Name, t.UndeliveredMessages),
			Docs:        r.undeliveredDocs(a, s),
			Condition: Condition{
				Filter:     SubscriptionFilter(MetricUndeliveredMessages, a.Project, s.Name),
				Comparison: "COMPARISON_GT", Threshold: float64(t.UndeliveredMessages), Duration: wait,
				Aggregation: Aggregation{Alignment: window, Aligner: "ALIGN_MEAN"},
			},
		})
		if s.DeadLetter == "" {
			continue
		}
		// A dead letter is a message the workers gave up on: alert at once.
		add(Alert{
			Key: "sub-" + s.Ref.key() + "-dead-lettered", Kind: KindDeadLettered, Resource: s.Name, Severity: SeverityError,
			DisplayName: fmt.Sprintf("subscription %s: messages dead-lettered", s.Name),
			Subject:     fmt.Sprintf("subscription %s dead-lettered messages", s.Name),
			Docs:        r.deadLetteredDocs(a, s),
			Condition: Condition{
				Filter:     SubscriptionFilter(MetricDeadLetterMessages, a.Project, s.Name),
				Comparison: "COMPARISON_GT", Threshold: 0,
				Aggregation: Aggregation{Alignment: window, Aligner: "ALIGN_SUM"},
			},
		})
		add(Alert{
			Key: "sub-" + s.Ref.key() + "-dead-letters-waiting", Kind: KindDeadLetterWait, Resource: s.DeadLetter, Severity: SeverityWarning,
			DisplayName: fmt.Sprintf("dead-letter subscription %s: messages waiting", s.DeadLetter),
			Subject:     fmt.Sprintf("dead letters of %s are waiting on %s", s.Name, s.DeadLetter),
			Docs:        r.deadLettersWaitingDocs(a, s),
			Condition: Condition{
				Filter:     SubscriptionFilter(MetricUndeliveredMessages, a.Project, s.DeadLetter),
				Comparison: "COMPARISON_GT", Threshold: 0,
				Aggregation: Aggregation{Alignment: window, Aligner: "ALIGN_MAX"},
			},
		})
	}

	for _, q := range a.Queues {
		add(Alert{
			Key: "queue-" + q.Name + "-depth", Kind: KindQueueDepth, Resource: q.ID, Severity: SeverityWarning,
			DisplayName: fmt.Sprintf("queue %s: depth", q.ID),
			Subject:     fmt.Sprintf("queue %s holds more than %d tasks", q.ID, t.QueueDepth),
			Docs:        r.queueDepthDocs(a, q),
			Condition: Condition{
				Filter:     QueueFilter(MetricQueueDepth, a.Project, q.Location, q.ID),
				Comparison: "COMPARISON_GT", Threshold: float64(t.QueueDepth), Duration: wait,
				Aggregation: Aggregation{Alignment: window, Aligner: "ALIGN_MEAN"},
			},
		})
		add(Alert{
			Key: "queue-" + q.Name + "-failed-attempts", Kind: KindFailedAttempts, Resource: q.ID, Severity: SeverityError,
			DisplayName: fmt.Sprintf("queue %s: failed task attempts", q.ID),
			Subject:     fmt.Sprintf("queue %s: task attempts failing above %s/s", q.ID, number(t.FailedAttemptsPerSecond)),
			Docs:        r.failedAttemptsDocs(a, q),
			Condition: Condition{
				// Cloud Tasks labels a 2xx answer "ok"; every other code is a failed attempt.
				Filter:     QueueFilter(MetricTaskAttempts, a.Project, q.Location, q.ID) + ` AND metric.label.response_code!="ok"`,
				Comparison: "COMPARISON_GT", Threshold: t.FailedAttemptsPerSecond, Duration: wait,
				Aggregation: Aggregation{Alignment: window, Aligner: "ALIGN_RATE", Reducer: "REDUCE_SUM", GroupBy: []string{"resource.label.queue_id"}},
			},
		})
	}

	for _, c := range a.CronJobs {
		add(Alert{
			Key: "cronjob-" + c.Name + "-failed", Kind: KindCronJobFailed, Resource: c.Name, Severity: SeverityError,
			DisplayName: fmt.Sprintf("CronJob %s: failed run", c.Name),
			Subject:     fmt.Sprintf("a run of CronJob %s failed", c.Name),
			Docs:        r.cronJobFailedDocs(a, c),
			Condition:   Condition{LogMatch: JobEventsFilter(a.Cluster, []string{c.Name}, ReasonsFailed)},
		})
		add(Alert{
			Key: "cronjob-" + c.Name + "-missed", Kind: KindCronJobMissed, Resource: c.Name, Severity: SeverityError,
			DisplayName: fmt.Sprintf("CronJob %s: missed run", c.Name),
			Subject:     fmt.Sprintf("CronJob %s missed a scheduled run", c.Name),
			Docs:        r.cronJobMissedDocs(a, c),
			Condition:   Condition{LogMatch: CronJobEventsFilter(a.Cluster, []string{c.Name}, ReasonsMissed)},
		})
		window, ok := c.overdue()
		if !ok {
			continue
		}
		add(Alert{
			Key: "cronjob-" + c.Name + "-overdue", Kind: KindCronJobOverdue, Resource: c.Name, Severity: SeverityError,
			DisplayName: fmt.Sprintf("CronJob %s: overdue run", c.Name),
			Subject:     fmt.Sprintf("CronJob %s has completed no run for %s", c.Name, duration.Human(window)),
			Docs:        r.cronJobOverdueDocs(a, c, window),
			Condition: Condition{
				Filter: CronJobFilter(MetricCronJobCompleted, a.Cluster, c.Name), Absent: true, Duration: window,
				Aggregation: Aggregation{Alignment: Granularity, Aligner: "ALIGN_SUM", Reducer: "REDUCE_SUM", GroupBy: []string{"metric.label.cronjob"}},
			},
		})
	}
	return out, r.err
}

// key makes a subscription reference usable in a resource name.
func (r SubscriptionRef) key() string { return r.Topic + "-" + r.Subscription }

// number renders a threshold without trailing zeros.
func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

type metricNames struct{ failed, missed string }

// metricNames are the physical names of the stack's log-based metrics.
func (a Args) metricNames() metricNames {
	return metricNames{
		a.Spec.Names.CronJobFailedMetric,
		a.Spec.Names.CronJobMissedMetric,
	}
}

// cronJobNames lists the CronJobs' names in order.
func (a Args) cronJobNames() []string {
	names := make([]string, len(a.CronJobs))
	for i, c := range a.CronJobs {
		names[i] = c.Name
	}
	return names
}

// quoteList renders names for prose: `a`, `b`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}
