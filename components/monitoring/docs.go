package monitoring

import (
	"fmt"
	"strings"
	"time"
)

// The documentation every policy carries (markdown, shown in notifications
// and incidents): what fired, what it means, and what to do, with the
// commands for this stack's resources. The operator commands are built
// with `make ops` into bin/.

func docs(paragraphs ...string) string { return strings.Join(paragraphs, "\n\n") }

func code(lines ...string) string { return "```\n" + strings.Join(lines, "\n") + "\n```" }

func worker5xxDocs(a Args) string {
	w := a.Worker
	return docs(
		fmt.Sprintf("**What fired.** The Cloud Run worker `%s` (%s, project `%s`) answered more than %s requests per second with a 5xx status, averaged over %s.",
			w.Service, w.Region, a.Project, number(a.Spec.Thresholds.Worker5xxPerSecond), Span(a.Spec.Thresholds.Window.Duration)),
		"**What it means.** Requests from Cloud Tasks and Pub/Sub push fail: Cloud Tasks retries them by its retry configuration, push subscriptions redeliver and finally dead-letter them. "+
			"A 504 usually means a request ran past the worker's timeout; 500 an unhandled error; 503 no instance was available (max instances reached, or a crash on start).",
		"**What to do.** Read the worker's errors and see which revision serves:",
		code(
			fmt.Sprintf(`gcloud logging read 'resource.type="cloud_run_revision" AND resource.labels.service_name="%s" AND severity>=ERROR' --project %s --freshness 1h --limit 50`, w.Service, a.Project),
			fmt.Sprintf("gcloud run revisions list --service %s --region %s --project %s", w.Service, w.Region, a.Project),
		),
		fmt.Sprintf("If a new revision broke it, send the traffic back to the last good one (`gcloud run services update-traffic %s --to-revisions <revision>=100 --region %s --project %s`) and fix forward through the stack. "+
			"Tasks that failed are retried by their queues; messages that ran out of delivery attempts are in the dead-letter subscriptions (see the dead-letter alerts).", w.Service, w.Region, a.Project),
	)
}

func oldestUnackedDocs(a Args, s Subscription, age time.Duration) string {
	return docs(
		fmt.Sprintf("**What fired.** The oldest unacknowledged message on the worker subscription `%s` (`%s`, project `%s`) has waited more than %s.", s.Name, s.Ref, a.Project, Span(age)),
		"**What it means.** The subscription's consumers are not keeping up or not consuming at all: the subscriber Deployment is scaled down, crashing or stuck, push requests fail, "+
			"or one message is redelivered again and again. A message that fails every attempt is dead-lettered after its delivery attempts; one that nobody pulls stays until its retention runs out and is then lost.",
		"**What to do.** Check the consumers and the backlog:",
		code(
			fmt.Sprintf("gcloud pubsub subscriptions describe %s --project %s", s.Name, a.Project),
			subscriberCheck(a),
		),
		fmt.Sprintf("Once consumers run again the backlog drains by itself. Messages already dead-lettered are inspected and replayed with `bin/deadletters inspect --stack %s --pair %s`.", a.Stack, s.Ref),
	)
}

func undeliveredDocs(a Args, s Subscription) string {
	return docs(
		fmt.Sprintf("**What fired.** More than %d messages have waited on the worker subscription `%s` (`%s`, project `%s`), averaged over %s.",
			a.Spec.Thresholds.UndeliveredMessages, s.Name, s.Ref, a.Project, Span(a.Spec.Thresholds.Window.Duration)),
		"**What it means.** Messages arrive faster than they are processed. It is expected during a burst; if it lasts, the consumers are too few (the HPA's maxReplicas is the rate cap), too slow, or failing.",
		"**What to do.** Compare the publish and acknowledge rates on the dashboard, and check the consumers:",
		code(
			fmt.Sprintf("gcloud pubsub subscriptions describe %s --project %s", s.Name, a.Project),
			subscriberCheck(a),
		),
		"Raise the consumers' capacity through the stack configuration (subscribers[].maxReplicas, worker.maxInstances), or slow the publishers down.",
	)
}

func subscriberCheck(a Args) string {
	if a.Cluster.Name == "" {
		return "# no subscriber Deployment in this stack: check the push endpoint (the worker) and its errors"
	}
	return fmt.Sprintf("kubectl --namespace %s get deployments,hpa,pods   # after: gcloud container clusters get-credentials %s --location %s --project %s",
		a.Cluster.Namespace, a.Cluster.Name, a.Cluster.Location, a.Cluster.Project)
}

func deadLetteredDocs(a Args, s Subscription) string {
	return docs(
		fmt.Sprintf("**What fired.** The worker subscription `%s` (`%s`, project `%s`) moved messages to its dead-letter topic: they failed all %d delivery attempts.",
			s.Name, s.Ref, a.Project, s.MaxDeliveryAttempts),
		fmt.Sprintf("**What it means.** The workers could not process these messages. They are kept on the dead-letter subscription `%s` for inspection and replay; nothing retries them by itself.", s.DeadLetter),
		"**What to do.** Look at the dead letters first; nothing is acknowledged by `inspect`:",
		deadLetterCommands(a, s),
		"Replay only after the cause is fixed (a bug in the worker, a bad message that needs a filter, a dependency that was down). Workers must stay idempotent: Pub/Sub delivers at least once.",
	)
}

func deadLettersWaitingDocs(a Args, s Subscription) string {
	return docs(
		fmt.Sprintf("**What fired.** Dead letters of the worker subscription `%s` (`%s`) are waiting on the dead-letter subscription `%s` (project `%s`).", s.Name, s.Ref, s.DeadLetter, a.Project),
		"**What it means.** Messages the workers gave up on have not been replayed or cleared yet. This alert stays open until the dead-letter subscription is empty; "+
			"unreplayed dead letters are lost when their retention runs out.",
		"**What to do.** Inspect them, fix the cause, then replay them to the original topic:",
		deadLetterCommands(a, s),
	)
}

func deadLetterCommands(a Args, s Subscription) string {
	return code(
		"make ops   # builds bin/deadletters and bin/enqueue",
		fmt.Sprintf("bin/deadletters inspect --stack %s --pair %s", a.Stack, s.Ref),
		fmt.Sprintf("bin/deadletters inspect --stack %s --pair %s --json --max 1000 > dead-letters.jsonl", a.Stack, s.Ref),
		fmt.Sprintf("bin/deadletters replay  --stack %s --pair %s --dry-run", a.Stack, s.Ref),
		fmt.Sprintf("bin/deadletters replay  --stack %s --pair %s --rate 10", a.Stack, s.Ref),
	)
}

func queueDepthDocs(a Args, q Queue) string {
	return docs(
		fmt.Sprintf("**What fired.** The Cloud Tasks queue `%s` (%s, project `%s`) has held more than %d tasks, averaged over %s.",
			q.ID, q.Location, a.Project, a.Spec.Thresholds.QueueDepth, Span(a.Spec.Thresholds.Window.Duration)),
		"**What it means.** Tasks are created faster than they are dispatched and answered: the worker is slow or failing (failed attempts are retried and stay in the queue), "+
			"the queue's rate limits are lower than the load, the queue is paused, or tasks are scheduled for later.",
		"**What to do.** Check the queue's state and the tasks waiting in it, and the failed-attempts alert of the same queue:",
		code(
			fmt.Sprintf("gcloud tasks queues describe %s --location %s --project %s", q.ID, q.Location, a.Project),
			fmt.Sprintf("gcloud tasks list --queue %s --location %s --project %s --limit 20", q.ID, q.Location, a.Project),
		),
		fmt.Sprintf("If the queue was paused, `gcloud tasks queues resume %s --location %s --project %s`. Once the worker keeps up, check the path end to end with one task:", q.ID, q.Location, a.Project),
		code(fmt.Sprintf(`bin/enqueue --stack %s --queue %s --body '{"message": "test message"}'`, a.Stack, q.Name)),
	)
}

func failedAttemptsDocs(a Args, q Queue) string {
	return docs(
		fmt.Sprintf("**What fired.** Task attempts of the Cloud Tasks queue `%s` (%s, project `%s`) were answered with other than 2xx more than %s times per second, over %s.",
			q.ID, q.Location, a.Project, number(a.Spec.Thresholds.FailedAttemptsPerSecond), Span(a.Spec.Thresholds.Window.Duration)),
		"**What it means.** The worker refuses or fails the tasks (5xx, 4xx such as 401/403 when the invoker identity lost run.invoker, or a deadline exceeded). "+
			"Cloud Tasks retries each by the queue's retry configuration and drops it when the attempts or the retry duration run out.",
		"**What to do.** Read the queue's attempt log (task logging must sample it) and the worker's errors:",
		code(
			fmt.Sprintf(`gcloud logging read 'resource.type="cloud_tasks_queue" AND resource.labels.queue_id="%s" AND severity>=WARNING' --project %s --freshness 1h --limit 20`, q.ID, a.Project),
			fmt.Sprintf("gcloud tasks list --queue %s --location %s --project %s --limit 20", q.ID, q.Location, a.Project),
		),
		"After the fix, send one task to confirm it succeeds:",
		code(fmt.Sprintf(`bin/enqueue --stack %s --queue %s --body '{"message": "test message"}'`, a.Stack, q.Name)),
	)
}

func kubectl(a Args) string {
	c := a.Cluster
	return fmt.Sprintf("gcloud container clusters get-credentials %s --location %s --project %s", c.Name, c.Location, c.Project)
}

func cronJobFailedDocs(a Args, c CronJob) string {
	ns := a.Cluster.Namespace
	return docs(
		fmt.Sprintf("**What fired.** A Job of the CronJob `%s` (namespace `%s`, cluster `%s`) failed: it used up its retries (BackoffLimitExceeded) or ran past its active deadline (DeadlineExceeded). "+
			"The signal is the Job controller's Kubernetes event, which GKE writes to Cloud Logging and the log-based metric `%s` counts.",
			c.Name, ns, a.Cluster.Name, a.metricNames().failed),
		"**What it means.** This run's work did not complete. The next scheduled run starts as usual; nothing retries this one.",
		"**What to do.** Find the failed Job and read its pods' logs:",
		code(
			kubectl(a),
			fmt.Sprintf("kubectl --namespace %s get jobs -l app.kubernetes.io/name=%s", ns, c.Name),
			fmt.Sprintf("kubectl --namespace %s describe job <job>", ns),
			fmt.Sprintf("kubectl --namespace %s logs job/<job> --all-containers", ns),
		),
		"Once fixed, run it again now instead of waiting for the schedule:",
		code(fmt.Sprintf("kubectl --namespace %s create job %s-manual-$(date +%%s) --from=cronjob/%s", ns, c.Name, c.Name)),
	)
}

func cronJobMissedDocs(a Args, c CronJob) string {
	ns := a.Cluster.Namespace
	return docs(
		fmt.Sprintf("**What fired.** The CronJob controller did not start a scheduled run of `%s` (schedule `%s`, namespace `%s`, cluster `%s`): "+
			"the run could not start within startingDeadlineSeconds (MissSchedule, TooManyMissedTimes), or the previous run was still going and concurrencyPolicy is Forbid (JobAlreadyActive).",
			c.Name, c.Schedule, ns, a.Cluster.Name),
		"**What it means.** A scheduled run was skipped. Runs that take longer than the schedule's interval keep skipping; a controller or cluster outage misses runs too.",
		"**What to do.** Look at the CronJob's events, its last schedule and its running Jobs:",
		code(
			kubectl(a),
			fmt.Sprintf("kubectl --namespace %s get cronjob %s", ns, c.Name),
			fmt.Sprintf("kubectl --namespace %s get events --field-selector involvedObject.name=%s", ns, c.Name),
			fmt.Sprintf("kubectl --namespace %s get jobs -l app.kubernetes.io/name=%s", ns, c.Name),
		),
		fmt.Sprintf("If a run is needed now: `kubectl --namespace %s create job %s-manual-$(date +%%s) --from=cronjob/%s`. If runs overlap, shorten them or lengthen the schedule.", ns, c.Name, c.Name),
	)
}

func cronJobOverdueDocs(a Args, c CronJob, window time.Duration) string {
	ns := a.Cluster.Namespace
	return docs(
		fmt.Sprintf("**What fired.** No Job of the CronJob `%s` (schedule `%s`, namespace `%s`, cluster `%s`) has completed successfully for %s, twice the longest gap between its scheduled runs.",
			c.Name, c.Schedule, ns, a.Cluster.Name, Span(window)),
		fmt.Sprintf("**What it means.** The job is not running at all, or every run fails: the CronJob is suspended or deleted, its pods cannot be scheduled, the cluster is down, "+
			"or the events stopped reaching Cloud Logging. The signal is the absence of the Job controller's Completed events, counted by the log-based metric `%s` of project `%s`, "+
			"which the bootstrap created for every stack whose cluster runs there (if it was deleted, `pulumi up --refresh` of the bootstrap makes it again). "+
			"Cloud Monitoring arms this condition only after one completion has been seen since the policy was created or changed.", MetricCronJobCompleted, a.Cluster.Project),
		"**What to do.** Check whether the CronJob is suspended and when it last ran and succeeded:",
		code(
			kubectl(a),
			fmt.Sprintf("kubectl --namespace %s get cronjob %s -o jsonpath='{.spec.suspend} {.status.lastScheduleTime} {.status.lastSuccessfulTime}'", ns, c.Name),
			fmt.Sprintf("kubectl --namespace %s get events --field-selector involvedObject.name=%s", ns, c.Name),
			fmt.Sprintf("kubectl --namespace %s get pods -l app.kubernetes.io/name=%s", ns, c.Name),
		),
		fmt.Sprintf("Run it once by hand to confirm it works: `kubectl --namespace %s create job %s-manual-$(date +%%s) --from=cronjob/%s`.", ns, c.Name, c.Name),
	)
}
