package monitoring

import (
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

// The documentation every policy carries (Markdown, shown in notifications
// and incidents): what fired, what it means, and what to do, with the
// commands for this stack's resources. The operator commands are built
// with `make ops` into bin/.
//
// Each alert kind's runbook is the template runbooks/<kind>.md, which
// reads the fields of its own data type below; runbooks/commands.tmpl
// holds the commands several runbooks share. text/template, not
// html/template: the content is Markdown, and backticks, quotes and <, >
// must reach it as written.

//go:embed runbooks/*.md runbooks/*.tmpl
var runbookFiles embed.FS

// runbooks are parsed once: a template that does not parse stops the
// program (and every test) at start, before any policy is declared.
var runbooks = template.Must(template.New("runbooks").Option("missingkey=error").
	ParseFS(runbookFiles, "runbooks/*.md", "runbooks/*.tmpl"))

// renderer renders runbooks and keeps the first error, which Alerts
// returns: a template that reads a field its data type lacks (TestRunbooks
// renders every template with its type, so this is a test failure first).
type renderer struct{ err error }

// runbook renders the runbook of an alert kind. The files end with a
// newline; the policies' content never did, so it is dropped.
func (r *renderer) runbook(kind string, data any) string {
	var b strings.Builder
	if err := runbooks.ExecuteTemplate(&b, kind+".md", data); err != nil {
		if r.err == nil {
			r.err = fmt.Errorf("monitoring: runbook %s: %w", kind, err)
		}
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// runbookCluster is the GKE cluster the kubectl commands reach. An empty
// Cluster means the stack has none (subscriber-check then says so).
type runbookCluster struct {
	Cluster         string
	ClusterLocation string
	ClusterProject  string
	Namespace       string
}

func clusterOf(a Args) runbookCluster {
	c := a.Cluster
	return runbookCluster{Cluster: c.Name, ClusterLocation: c.Location, ClusterProject: c.Project, Namespace: c.Namespace}
}

// Every field is text as the runbook shows it: durations as Span writes
// them, rates as number does.

type worker5xxRunbook struct {
	Service, Region, Project string
	Threshold                string // responses per second
	Window                   string
}

func (r *renderer) worker5xxDocs(a Args) string {
	return r.runbook(KindWorker5xx, worker5xxRunbook{
		Service: a.Worker.Service, Region: a.Worker.Region, Project: a.Project,
		Threshold: number(a.Spec.Thresholds.Worker5xxPerSecond), Window: duration.Human(a.Spec.Thresholds.Window.Duration),
	})
}

type oldestUnackedRunbook struct {
	runbookCluster
	// Subscription is the id in Google Cloud; Ref the configured
	// <topic>/<subscription>, as bin/deadletters --pair takes it.
	Subscription, Ref string
	Project, Stack    string
	Age               string
}

func (r *renderer) oldestUnackedDocs(a Args, s Subscription, age time.Duration) string {
	return r.runbook(KindOldestUnacked, oldestUnackedRunbook{
		runbookCluster: clusterOf(a),
		Subscription:   s.Name, Ref: s.Ref.String(), Project: a.Project, Stack: a.Spec.Names.Stack, Age: duration.Human(age),
	})
}

type undeliveredRunbook struct {
	runbookCluster
	Subscription, Ref string
	Project           string
	Threshold         int64 // messages
	Window            string
}

func (r *renderer) undeliveredDocs(a Args, s Subscription) string {
	return r.runbook(KindUndelivered, undeliveredRunbook{
		runbookCluster: clusterOf(a),
		Subscription:   s.Name, Ref: s.Ref.String(), Project: a.Project,
		Threshold: a.Spec.Thresholds.UndeliveredMessages, Window: duration.Human(a.Spec.Thresholds.Window.Duration),
	})
}

type deadLetteredRunbook struct {
	Subscription, Ref, DeadLetter string
	Project, Stack                string
	Attempts                      int // delivery attempts before a message is dead-lettered
}

func (r *renderer) deadLetteredDocs(a Args, s Subscription) string {
	return r.runbook(KindDeadLettered, deadLetteredRunbook{
		Subscription: s.Name, Ref: s.Ref.String(), DeadLetter: s.DeadLetter,
		Project: a.Project, Stack: a.Spec.Names.Stack, Attempts: s.MaxDeliveryAttempts,
	})
}

type deadLettersWaitingRunbook struct {
	Subscription, Ref, DeadLetter string
	Project, Stack                string
}

func (r *renderer) deadLettersWaitingDocs(a Args, s Subscription) string {
	return r.runbook(KindDeadLetterWait, deadLettersWaitingRunbook{
		Subscription: s.Name, Ref: s.Ref.String(), DeadLetter: s.DeadLetter, Project: a.Project, Stack: a.Spec.Names.Stack,
	})
}

type queueDepthRunbook struct {
	// Queue is the id in Google Cloud; Name the configured name, as
	// bin/enqueue --queue takes it.
	Queue, Name, Location string
	Project, Stack        string
	Threshold             int64 // tasks
	Window                string
}

func (r *renderer) queueDepthDocs(a Args, q Queue) string {
	return r.runbook(KindQueueDepth, queueDepthRunbook{
		Queue: q.ID, Name: q.Name, Location: q.Location, Project: a.Project, Stack: a.Spec.Names.Stack,
		Threshold: a.Spec.Thresholds.QueueDepth, Window: duration.Human(a.Spec.Thresholds.Window.Duration),
	})
}

type failedAttemptsRunbook struct {
	Queue, Name, Location string
	Project, Stack        string
	Threshold             string // failed attempts per second
	Window                string
}

func (r *renderer) failedAttemptsDocs(a Args, q Queue) string {
	return r.runbook(KindFailedAttempts, failedAttemptsRunbook{
		Queue: q.ID, Name: q.Name, Location: q.Location, Project: a.Project, Stack: a.Spec.Names.Stack,
		Threshold: number(a.Spec.Thresholds.FailedAttemptsPerSecond), Window: duration.Human(a.Spec.Thresholds.Window.Duration),
	})
}

type cronJobFailedRunbook struct {
	runbookCluster
	CronJob string
	Metric  string // the stack's log-based metric of failed runs
}

func (r *renderer) cronJobFailedDocs(a Args, c CronJob) string {
	return r.runbook(KindCronJobFailed, cronJobFailedRunbook{
		runbookCluster: clusterOf(a), CronJob: c.Name, Metric: a.metricNames().failed,
	})
}

type cronJobMissedRunbook struct {
	runbookCluster
	CronJob, Schedule string
}

func (r *renderer) cronJobMissedDocs(a Args, c CronJob) string {
	return r.runbook(KindCronJobMissed, cronJobMissedRunbook{
		runbookCluster: clusterOf(a), CronJob: c.Name, Schedule: c.Schedule,
	})
}

type cronJobOverdueRunbook struct {
	runbookCluster
	CronJob, Schedule string
	Window            string
	Metric            string // the cluster project's log-based metric of completions
}

func (r *renderer) cronJobOverdueDocs(a Args, c CronJob, window time.Duration) string {
	return r.runbook(KindCronJobOverdue, cronJobOverdueRunbook{
		runbookCluster: clusterOf(a), CronJob: c.Name, Schedule: c.Schedule,
		Window: duration.Human(window), Metric: MetricCronJobCompleted,
	})
}
