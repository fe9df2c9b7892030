package monitoring

import (
	"fmt"
	"strings"
)

// Metric types the alerts and the dashboard read (Google Cloud metrics list).
const (
	MetricOldestUnackedAge    = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
	MetricUndeliveredMessages = "pubsub.googleapis.com/subscription/num_undelivered_messages"
	MetricDeadLetterMessages  = "pubsub.googleapis.com/subscription/dead_letter_message_count"
	MetricQueueDepth          = "cloudtasks.googleapis.com/queue/depth"
	MetricTaskAttempts        = "cloudtasks.googleapis.com/queue/task_attempt_count"
	MetricRunRequests         = "run.googleapis.com/request_count"
	MetricRunLatencies        = "run.googleapis.com/request_latencies"
	MetricRunInstances        = "run.googleapis.com/container/instance_count"
	// UserMetricPrefix starts the type of every log-based metric.
	UserMetricPrefix = "logging.googleapis.com/user/"
)

// Monitored resource types.
const (
	ResourceSubscription = "pubsub_subscription"
	ResourceQueue        = "cloud_tasks_queue"
	ResourceRevision     = "cloud_run_revision"
	// ResourceCluster is the resource GKE writes Kubernetes events about
	// objects other than pods and nodes (Jobs, CronJobs) under.
	ResourceCluster = "k8s_cluster"
)

// Kubernetes event reasons the CronJob alerts count
// (kubernetes pkg/controller/job, pkg/controller/cronjob; batch/v1 types).
var (
	// ReasonsFailed are the Job controller's Warning events when a Job
	// fails: retries used up, or the active deadline passed.
	ReasonsFailed = []string{"BackoffLimitExceeded", "DeadlineExceeded"}
	// ReasonCompleted is the Job controller's Normal event when a Job succeeds.
	ReasonCompleted = "Completed"
	// ReasonsMissed are the CronJob controller's events for a scheduled run
	// that did not start: its starting deadline passed, too many were
	// missed to count, or the previous run still ran under Forbid.
	ReasonsMissed = []string{"MissSchedule", "TooManyMissedTimes", "JobAlreadyActive"}
)

// monitoringFilter joins Cloud Monitoring filter terms.
func monitoringFilter(metric, resource string, labels ...string) string {
	terms := []string{fmt.Sprintf("metric.type=%q", metric), fmt.Sprintf("resource.type=%q", resource)}
	for i := 0; i+1 < len(labels); i += 2 {
		terms = append(terms, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	return strings.Join(terms, " AND ")
}

// SubscriptionFilter selects one metric of one subscription.
func SubscriptionFilter(metric, project, subscription string) string {
	return monitoringFilter(metric, ResourceSubscription,
		"resource.label.project_id", project, "resource.label.subscription_id", subscription)
}

// QueueFilter selects one metric of one Cloud Tasks queue.
func QueueFilter(metric, project, location, queue string) string {
	return monitoringFilter(metric, ResourceQueue,
		"resource.label.project_id", project, "resource.label.location", location, "resource.label.queue_id", queue)
}

// ServiceFilter selects one metric of every revision of one Cloud Run service.
func ServiceFilter(metric, project, region, service string) string {
	return monitoringFilter(metric, ResourceRevision,
		"resource.label.project_id", project, "resource.label.location", region, "resource.label.service_name", service)
}

// CronJobFilter selects one log-based metric of one CronJob.
func CronJobFilter(metricName string, c Cluster, cronJob string) string {
	return monitoringFilter(UserMetricPrefix+metricName, ResourceCluster,
		"resource.label.project_id", c.Project, "resource.label.location", c.Location, "resource.label.cluster_name", c.Name,
		"metric.label.namespace", c.Namespace, "metric.label.cronjob", cronJob)
}

// eventsFilter is the Cloud Logging query for the cluster's Kubernetes
// events about objects of one kind in the workloads' namespace.
func eventsFilter(c Cluster, kind string) []string {
	return []string{
		fmt.Sprintf(`logName="projects/%s/logs/events"`, c.Project),
		fmt.Sprintf(`resource.type=%q`, ResourceCluster),
		fmt.Sprintf(`resource.labels.project_id=%q`, c.Project),
		fmt.Sprintf(`resource.labels.location=%q`, c.Location),
		fmt.Sprintf(`resource.labels.cluster_name=%q`, c.Name),
		fmt.Sprintf(`jsonPayload.involvedObject.kind=%q`, kind),
		fmt.Sprintf(`jsonPayload.involvedObject.namespace=%q`, c.Namespace),
	}
}

// jobNamePattern matches the Jobs the CronJob controller creates for the
// given CronJobs: "<cronjob>-<scheduled time in minutes>". Dots, the only
// regular-expression character a CronJob name can hold, are matched
// literally.
func jobNamePattern(cronJobs []string) string {
	names := make([]string, len(cronJobs))
	for i, n := range cronJobs {
		names[i] = strings.ReplaceAll(n, ".", "[.]")
	}
	return "^(" + strings.Join(names, "|") + ")-[0-9]+$"
}

// jobNameExtractor takes the CronJob's name from its Job's name.
const jobNameExtractor = `REGEXP_EXTRACT(jsonPayload.involvedObject.name, "^(.+)-[0-9]+$")`

func oneOf(field string, values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%s=(%s)", field, strings.Join(quoted, " OR "))
}

// JobEventsFilter selects the Job controller's events with the given
// reasons about Jobs of the given CronJobs.
func JobEventsFilter(c Cluster, cronJobs, reasons []string) string {
	terms := append(eventsFilter(c, "Job"),
		fmt.Sprintf(`jsonPayload.involvedObject.name=~%q`, jobNamePattern(cronJobs)),
		oneOf("jsonPayload.reason", reasons))
	return strings.Join(terms, "\n")
}

// CronJobEventsFilter selects the CronJob controller's events with the
// given reasons about the given CronJobs.
func CronJobEventsFilter(c Cluster, cronJobs, reasons []string) string {
	terms := append(eventsFilter(c, "CronJob"),
		oneOf("jsonPayload.involvedObject.name", cronJobs),
		oneOf("jsonPayload.reason", reasons))
	return strings.Join(terms, "\n")
}
