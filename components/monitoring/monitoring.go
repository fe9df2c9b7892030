// Package monitoring declares the stack's alert policies, their
// notification channels and its dashboard: per worker subscription its
// oldest unacked message, its backlog, its dead letters and the dead
// letters waiting; per queue its depth and failed attempts; the worker's
// 5xx responses; per CronJob its failed and missed runs, alerted on the
// Kubernetes events GKE writes to Cloud Logging and counted by the stack's
// log-based metrics, and its overdue runs, the absence of completions in
// the project's CompletionsMetric (the bootstrap's). Every filter names
// one resource by its physical name.
package monitoring

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/logging"
	gcpmonitoring "github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/monitoring"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:monitoring:Monitoring"

// Args are the monitoring's settings: the project, the labels (the
// policies' and channels' user labels) and the resolved, validated Spec
// (its Names filled by the stack), then the resources watched, by their
// physical names.
type Args struct {
	Project       string
	Labels        map[string]string
	Spec          Spec
	Worker        Service
	Subscriptions []Subscription
	Queues        []Queue
	CronJobs      []CronJob
	// Cluster is where the CronJobs run; needed only with CronJobs.
	Cluster Cluster
	// DependsOn orders every child after these resources (API enablement).
	DependsOn []pulumi.Resource
}

// Service is the Cloud Run worker.
type Service struct {
	Service string
	Region  string
}

// SubscriptionRef is a subscription by its configuration names, as the
// deadletters command's --pair takes it.
type SubscriptionRef struct {
	Topic        string
	Subscription string
}

func (r SubscriptionRef) String() string { return r.Topic + "/" + r.Subscription }

// Subscription is a worker subscription and its dead-letter subscription.
type Subscription struct {
	Ref SubscriptionRef
	// Name and DeadLetter are the subscription ids in Google Cloud;
	// DeadLetter is empty for a subscription that does not dead-letter.
	Name                string
	DeadLetter          string
	MaxDeliveryAttempts int
	AckDeadline         time.Duration
	// MaxBackoff is the longest redelivery backoff (0: immediate redelivery).
	MaxBackoff time.Duration
}

// OldestUnackedAge is the subscription's threshold: the configured one,
// else DerivedOldestUnackedAge.
func (s Subscription) OldestUnackedAge(t Thresholds) time.Duration {
	if t.OldestUnackedAge.Set {
		return t.OldestUnackedAge.Duration
	}
	return DerivedOldestUnackedAge(s.MaxDeliveryAttempts, s.AckDeadline, s.MaxBackoff)
}

// Queue is a Cloud Tasks queue.
type Queue struct {
	// Name is the configured name (the enqueue command's --queue); ID the
	// queue id in Google Cloud.
	Name     string
	ID       string
	Location string
}

// CronJob is a Kubernetes CronJob by its name and schedule.
type CronJob struct {
	Name     string
	Schedule string
	TimeZone string
}

// Overdue is how a CronJob's overdue alert is derived from its schedule.
type Overdue struct {
	// Gap is the longest time between consecutive scheduled runs.
	Gap time.Duration
	// Window is OverdueWindow(Gap); OK is false when it is longer than an
	// absence condition may be, and no overdue alert is declared.
	Window time.Duration
	OK     bool
}

// Overdue derives the CronJob's overdue window from its schedule.
func (c CronJob) Overdue() (Overdue, error) {
	gap, err := LongestGap(c.Schedule, c.TimeZone)
	if err != nil {
		return Overdue{}, err
	}
	window, ok := OverdueWindow(gap)
	return Overdue{Gap: gap, Window: window, OK: ok}, nil
}

func (c CronJob) overdue() (time.Duration, bool) {
	o, err := c.Overdue()
	return o.Window, err == nil && o.OK
}

// Cluster is the GKE cluster and namespace the CronJobs run in.
type Cluster struct {
	Project   string
	Location  string
	Name      string
	Namespace string
}

// Monitoring is the stack's alerting and dashboard. Its tagged fields are
// its outputs, registered and exported as they are (package outputmap).
type Monitoring struct {
	pulumi.ResourceState

	// Dashboard is the dashboard's resource name.
	Dashboard pulumi.StringOutput `pulumi:"dashboard"`
	// AlertPolicies are the policies' resource names.
	AlertPolicies pulumi.StringArrayOutput `pulumi:"alertPolicies"`
	// NotificationChannels are the channels every policy notifies.
	NotificationChannels pulumi.StringArrayOutput `pulumi:"notificationChannels"`
}

// New declares the notification channels, the log-based metrics of the
// CronJobs' failed and missed runs, the alert policies and the dashboard.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if n := args.Spec.Names; n.Stack == "" || len(args.CronJobs) > 0 && (n.CronJobFailedMetric == "" || n.CronJobMissedMetric == "") {
		// The stack's resolve step fills them; a guess here could name
		// metrics other than the ones the alerts read.
		return nil, fmt.Errorf("monitoring: spec not resolved (Names %+v; package stacks resolves it)", n)
	}
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource(TypeToken, name, m, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Composite(pulumi.Parent(m), pulumi.DependsOn(args.DependsOn))
	project := pulumi.String(args.Project)

	// The stack's log-based metrics exist before the dashboard that charts
	// them (and before the policies, which need not wait: none reads them).
	// No policy may read a metric this update creates: Cloud Monitoring
	// answers 404 for up to 10 minutes after a log-based metric is made.
	// Failed and missed runs are log-match conditions, and the overdue
	// alert reads the project's CompletionsMetric, the bootstrap's.
	var metrics []pulumi.Resource
	if len(args.CronJobs) > 0 {
		var err error
		if metrics, err = newLogMetrics(ctx, name, args, child); err != nil {
			return nil, err
		}
	}
	afterMetrics := pulumi.DependsOn(metrics)

	channels := pulumi.StringArray{}
	var policies pulumi.StringArray
	if args.Spec.Enabled {
		for _, c := range args.Spec.NotificationChannels {
			channels = append(channels, pulumi.String(c))
		}
		for i, email := range args.Spec.Emails {
			ch, err := gcpmonitoring.NewNotificationChannel(ctx, fmt.Sprintf("%s-email-%d", name, i), &gcpmonitoring.NotificationChannelArgs{
				Project:     project,
				Type:        pulumi.String("email"),
				DisplayName: pulumi.String(fmt.Sprintf("asyncjobs %s: %s", args.Spec.Names.Stack, email)),
				Description: pulumi.String("Receives every asyncjobs alert of stack " + args.Spec.Names.Stack + "."),
				Labels:      pulumi.StringMap{"email_address": pulumi.String(email)},
				UserLabels:  pulumi.ToStringMap(args.Labels),
			}, child)
			if err != nil {
				return nil, err
			}
			channels = append(channels, ch.Name)
		}
		alerts, err := Alerts(args)
		if err != nil {
			return nil, err
		}
		for _, al := range alerts {
			p, err := gcpmonitoring.NewAlertPolicy(ctx, name+"-"+al.Key, policyArgs(args, al, channels), child, afterMetrics)
			if err != nil {
				return nil, err
			}
			policies = append(policies, p.Name)
		}
	}

	body, err := BuildDashboard(args).JSON()
	if err != nil {
		return nil, err
	}
	dash, err := gcpmonitoring.NewDashboard(ctx, name+"-dashboard", &gcpmonitoring.DashboardArgs{
		Project:       project,
		DashboardJson: pulumi.String(body),
	}, child, afterMetrics)
	if err != nil {
		return nil, err
	}

	m.Dashboard = dash.ID().ToStringOutput()
	m.AlertPolicies = policies.ToStringArrayOutput()
	m.NotificationChannels = channels.ToStringArrayOutput()
	if err := ctx.RegisterResourceOutputs(m, outputmap.Of(m)); err != nil {
		return nil, err
	}
	return m, nil
}

func policyArgs(a Args, al Alert, channels pulumi.StringArray) *gcpmonitoring.AlertPolicyArgs {
	labels := pulumi.StringMap{}
	for k, v := range a.Labels {
		labels[k] = pulumi.String(v)
	}
	labels[AlertLabel] = pulumi.String(al.Kind)

	c := al.Condition
	agg := gcpmonitoring.AlertPolicyConditionConditionThresholdAggregationArgs{
		AlignmentPeriod:  pulumi.String(seconds(c.Aggregation.Alignment)),
		PerSeriesAligner: pulumi.String(c.Aggregation.Aligner),
	}
	if c.Aggregation.Reducer != "" {
		agg.CrossSeriesReducer = pulumi.String(c.Aggregation.Reducer)
		agg.GroupByFields = pulumi.ToStringArray(c.Aggregation.GroupBy)
	}
	cond := gcpmonitoring.AlertPolicyConditionArgs{DisplayName: pulumi.String(c.DisplayName)}
	var strategy *gcpmonitoring.AlertPolicyAlertStrategyArgs
	switch {
	case c.LogMatch != "":
		cond.ConditionMatchedLog = &gcpmonitoring.AlertPolicyConditionConditionMatchedLogArgs{Filter: pulumi.String(c.LogMatch)}
		// Required for log-match policies: at most one notification per
		// period (Cloud Monitoring's minimum is 5 minutes). A run's failure
		// is an event, not a state: the incident closes after the shortest
		// autoClose allowed, so the next failure opens a new one.
		strategy = &gcpmonitoring.AlertPolicyAlertStrategyArgs{
			NotificationRateLimit: &gcpmonitoring.AlertPolicyAlertStrategyNotificationRateLimitArgs{
				Period: pulumi.String(seconds(max(a.Spec.Thresholds.Window.Duration, MinLogNotificationPeriod))),
			},
			AutoClose: pulumi.String(seconds(MinAutoClose)),
		}
	case c.Absent:
		cond.ConditionAbsent = &gcpmonitoring.AlertPolicyConditionConditionAbsentArgs{
			Filter:   pulumi.String(c.Filter),
			Duration: pulumi.String(seconds(c.Duration)),
			Aggregations: gcpmonitoring.AlertPolicyConditionConditionAbsentAggregationArray{
				gcpmonitoring.AlertPolicyConditionConditionAbsentAggregationArgs(agg),
			},
			Trigger: &gcpmonitoring.AlertPolicyConditionConditionAbsentTriggerArgs{Count: pulumi.Int(1)},
		}
	default:
		cond.ConditionThreshold = &gcpmonitoring.AlertPolicyConditionConditionThresholdArgs{
			Filter:         pulumi.String(c.Filter),
			Comparison:     pulumi.String(c.Comparison),
			ThresholdValue: pulumi.Float64(c.Threshold),
			Duration:       pulumi.String(seconds(c.Duration)),
			Aggregations:   gcpmonitoring.AlertPolicyConditionConditionThresholdAggregationArray{agg},
			Trigger:        &gcpmonitoring.AlertPolicyConditionConditionThresholdTriggerArgs{Count: pulumi.Int(1)},
		}
	}
	return &gcpmonitoring.AlertPolicyArgs{
		Project:              pulumi.String(a.Project),
		DisplayName:          pulumi.String(al.DisplayName),
		Combiner:             pulumi.String("OR"),
		Severity:             pulumi.String(al.Severity),
		UserLabels:           labels,
		NotificationChannels: channels,
		Conditions:           gcpmonitoring.AlertPolicyConditionArray{cond},
		AlertStrategy:        strategy,
		Documentation: &gcpmonitoring.AlertPolicyDocumentationArgs{
			MimeType: pulumi.String("text/markdown"),
			Subject:  pulumi.String(al.Subject),
			Content:  pulumi.String(al.Docs),
		},
	}
}

// newLogMetrics declares the counters of failed and missed runs the
// dashboard charts, in the cluster's project where GKE writes its events.
// Each has the CronJob's name as a label. Successful runs are counted by the
// project's CompletionsMetric, which the bootstrap creates.
func newLogMetrics(ctx *pulumi.Context, name string, a Args, opts pulumi.ResourceOption) ([]pulumi.Resource, error) {
	names := a.metricNames()
	jobs := a.cronJobNames()
	defs := []struct {
		key    string
		metric LogMetric
	}{
		{"failed", LogMetric{
			Name:        names.failed,
			Description: "Jobs of the asyncjobs CronJobs that failed: retries used up or active deadline passed (Job controller events).",
			Filter:      JobEventsFilter(a.Cluster, jobs, ReasonsFailed),
			Labels:      []MetricLabel{labelCronJob, labelNamespace, labelReason},
			Extractors: map[string]string{
				"cronjob":   jobNameExtractor,
				"namespace": "EXTRACT(jsonPayload.involvedObject.namespace)",
				"reason":    "EXTRACT(jsonPayload.reason)",
			},
		}},
		{"missed", LogMetric{
			Name:        names.missed,
			Description: "Scheduled runs of the asyncjobs CronJobs that did not start (CronJob controller events).",
			Filter:      CronJobEventsFilter(a.Cluster, jobs, ReasonsMissed),
			Labels:      []MetricLabel{labelCronJob, labelNamespace, labelReason},
			Extractors: map[string]string{
				"cronjob":   "EXTRACT(jsonPayload.involvedObject.name)",
				"namespace": "EXTRACT(jsonPayload.involvedObject.namespace)",
				"reason":    "EXTRACT(jsonPayload.reason)",
			},
		}},
	}
	var out []pulumi.Resource
	for _, d := range defs {
		metric, err := logging.NewMetric(ctx, fmt.Sprintf("%s-cronjob-%s", name, d.key), d.metric.Args(a.Cluster.Project), opts)
		if err != nil {
			return nil, err
		}
		out = append(out, metric)
	}
	return out, nil
}
