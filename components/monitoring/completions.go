package monitoring

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// MetricCronJobCompleted names the counter of successful CronJob runs that
// the overdue alerts read: one per Google project that holds clusters, with
// no stack's name suffix, created by the bootstrap program and never by a
// stack. Cloud Monitoring refuses an alert policy on a log-based metric for
// up to 10 minutes after the metric is created (404 "Cannot find
// metric(s)", which the provider does not retry), so a stack that created
// the counter its absence alert reads would fail its first up.
const MetricCronJobCompleted = "asyncjobs-cronjob-completed"

// cronJobMadeJobName matches the name the CronJob controller gives a Job,
// "<cronjob>-<scheduled time in Unix minutes>": a CronJob name is a DNS
// subdomain of at most 52 characters, and Unix minutes have 8 digits from
// 1973 to 2160. Jobs named otherwise (by hand, by other tools, or with
// `date +%s` as the runbooks do) are not counted.
const cronJobMadeJobName = `^[a-z0-9][-.a-z0-9]{0,51}-[0-9]{8}$`

// LogMetric is a log-based counter (DELTA, INT64) whose labels are strings
// extracted from the matching entries.
type LogMetric struct {
	Name        string
	Description string
	Filter      string
	Labels      []MetricLabel
	// Extractors map each label's key to its extractor expression.
	Extractors map[string]string
}

// MetricLabel is a label of a LogMetric.
type MetricLabel struct {
	Key, Description string
}

var (
	labelCronJob   = MetricLabel{"cronjob", "the CronJob's name"}
	labelNamespace = MetricLabel{"namespace", "the CronJob's namespace"}
	labelReason    = MetricLabel{"reason", "the Kubernetes event's reason"}
)

// Args declares the metric in the given project.
func (m LogMetric) Args(project string) *logging.MetricArgs {
	labels := logging.MetricMetricDescriptorLabelArray{}
	for _, l := range m.Labels {
		labels = append(labels, logging.MetricMetricDescriptorLabelArgs{
			Key: pulumi.String(l.Key), ValueType: pulumi.String("STRING"), Description: pulumi.String(l.Description),
		})
	}
	return &logging.MetricArgs{
		Project:     pulumi.String(project),
		Name:        pulumi.String(m.Name),
		Description: pulumi.String(m.Description),
		Filter:      pulumi.String(m.Filter),
		MetricDescriptor: &logging.MetricMetricDescriptorArgs{
			MetricKind: pulumi.String("DELTA"),
			ValueType:  pulumi.String("INT64"),
			Unit:       pulumi.String("1"),
			Labels:     labels,
		},
		LabelExtractors: pulumi.ToStringMap(m.Extractors),
	}
}

// CompletionsMetric is the project's counter of successful CronJob runs:
// the Job controller's Completed events about Jobs a CronJob created, in
// every cluster and namespace of the project, labelled with the CronJob's
// name and namespace. Each stack's overdue alert selects its own series by
// the cluster's resource labels, the namespace and the CronJob's name
// (CronJobFilter), so stacks sharing the project never see each other's
// runs. Its cardinality is bounded: only Jobs named as the CronJob
// controller names them count, so the series are at most the project's
// CronJobs (by namespace).
func CompletionsMetric(project string) LogMetric {
	filter := strings.Join([]string{
		fmt.Sprintf(`logName="projects/%s/logs/events"`, project),
		fmt.Sprintf(`resource.type=%q`, ResourceCluster),
		fmt.Sprintf(`resource.labels.project_id=%q`, project),
		`jsonPayload.involvedObject.kind="Job"`,
		fmt.Sprintf(`jsonPayload.involvedObject.name=~%q`, cronJobMadeJobName),
		fmt.Sprintf(`jsonPayload.reason=%q`, ReasonCompleted),
	}, "\n")
	return LogMetric{
		Name: MetricCronJobCompleted,
		Description: "Successful runs of the CronJobs of every cluster in this project (Job controller Completed events of Jobs a CronJob created). " +
			"Created once per project by the asyncjobs bootstrap; each stack's overdue alerts read their own CronJobs' series.",
		Filter: filter,
		Labels: []MetricLabel{labelCronJob, labelNamespace},
		Extractors: map[string]string{
			"cronjob":   jobNameExtractor,
			"namespace": "EXTRACT(jsonPayload.involvedObject.namespace)",
		},
	}
}
