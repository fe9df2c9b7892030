package monitoring

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
)

const (
	policyType  = "gcp:monitoring/alertPolicy:AlertPolicy"
	channelType = "gcp:monitoring/notificationChannel:NotificationChannel"
	metricType  = "gcp:logging/metric:Metric"
	boardType   = "gcp:monitoring/dashboard:Dashboard"
	existing    = "projects/p/notificationChannels/123"
)

func testArgs() Args {
	spec := DefaultSpec()
	spec.NotificationChannels = []string{existing}
	spec.Emails = []string{"oncall@example.com"}
	spec.Names = resolvedNames("test", "x1")
	return Args{
		Project: "p", Labels: map[string]string{"environment": "test"}, Spec: spec,
		Worker: Service{Service: "worker-x1", Region: "asia-northeast1"},
		Subscriptions: []Subscription{{
			Ref:  SubscriptionRef{Topic: "jobs", Subscription: "jobs-worker"},
			Name: "jobs-worker-x1", DeadLetter: "jobs-worker-dead-letter-x1",
			MaxDeliveryAttempts: 5, AckDeadline: time.Minute, MaxBackoff: 10 * time.Minute,
		}},
		Queues: []Queue{{Name: "sample-queue", ID: "sample-queue-x1", Location: "asia-northeast1"}},
		CronJobs: []CronJob{
			{Name: "every-minute", Schedule: "* * * * *"},
			{Name: "nightly.report", Schedule: "0 3 * * *", TimeZone: "Asia/Tokyo"},
		},
		Cluster: Cluster{Project: "p-gke", Location: "asia-northeast1", Name: "c1", Namespace: "jobs"},
	}
}

// resolvedNames are the Names the stack's resolve step fills for the stack
// and its name suffix (components never compute them).
func resolvedNames(stack, suffix string) Names {
	return Names{
		Stack:               stack,
		CronJobFailedMetric: gcpname.Physical(MetricCronJobFailed, suffix),
		CronJobMissedMetric: gcpname.Physical(MetricCronJobMissed, suffix),
	}
}

// record declares the component as a deployment would (ids simulated) and
// exports its outputs, so the tests see the values the stack would.
func record(t *testing.T, args Args) *recorder.Plan {
	t.Helper()
	plan, err := recorder.Run(func(ctx *pulumi.Context) error {
		m, err := New(ctx, "monitoring", args)
		if err != nil {
			return err
		}
		ctx.Export("dashboard", m.Dashboard)
		ctx.Export("alertPolicies", m.AlertPolicies)
		ctx.Export("notificationChannels", m.NotificationChannels)
		return nil
	}, recorder.Options{Project: "asyncjobs", Stack: "test"})
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	return plan
}

func str(t *testing.T, r *recorder.Resource, path string) string {
	t.Helper()
	v, ok := r.Input(path)
	s, isString := v.(string)
	if !ok || !isString {
		t.Fatalf("%s %s: input %s = %#v, want a string", r.Type, r.Name, path, v)
	}
	return s
}

func TestAlertPolicies(t *testing.T) {
	plan := record(t, testArgs())
	comp := plantest.Find(t, plan, TypeToken, "monitoring")
	const (
		sub   = `resource.type="pubsub_subscription" AND resource.label.project_id="p" AND resource.label.subscription_id=`
		queue = `resource.type="cloud_tasks_queue" AND resource.label.project_id="p" AND resource.label.location="asia-northeast1"` +
			` AND resource.label.queue_id="sample-queue-x1"`
		cluster = `resource.type="k8s_cluster" AND resource.label.project_id="p-gke" AND resource.label.location="asia-northeast1"` +
			` AND resource.label.cluster_name="c1" AND metric.label.namespace="jobs" AND metric.label.cronjob=`
		userTypes = `metric.type="logging.googleapis.com/user/asyncjobs-cronjob-`
	)
	cases := []struct {
		key, kind, severity string
		filter              string
		absent              bool
		threshold           float64
		duration, alignment string
		aligner, reducer    string
		groupBy             []any
		docs                []string
		// logMatch, when set, lists parts of the Cloud Logging query of a
		// log-match condition, which takes the place of a threshold.
		logMatch []string
	}{
		{"worker-5xx", KindWorker5xx, SeverityError,
			`metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.label.project_id="p"` +
				` AND resource.label.location="asia-northeast1" AND resource.label.service_name="worker-x1" AND metric.label.response_code_class="5xx"`,
			false, 0.1, "300s", "300s", "ALIGN_RATE", "REDUCE_SUM", []any{"resource.label.service_name"},
			[]string{"`worker-x1`", "gcloud run revisions list --service worker-x1 --region asia-northeast1 --project p", "update-traffic worker-x1"}, nil},
		{"sub-jobs-jobs-worker-oldest-unacked", KindOldestUnacked, SeverityError,
			`metric.type="pubsub.googleapis.com/subscription/oldest_unacked_message_age" AND ` + sub + `"jobs-worker-x1"`,
			false, 3300, "300s", "300s", "ALIGN_MAX", "", nil,
			[]string{"more than 55m", "gcloud pubsub subscriptions describe jobs-worker-x1 --project p", "kubectl --namespace jobs get deployments,hpa,pods",
				"bin/deadletters inspect --stack test --pair jobs/jobs-worker"}, nil},
		{"sub-jobs-jobs-worker-undelivered", KindUndelivered, SeverityWarning,
			`metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND ` + sub + `"jobs-worker-x1"`,
			false, 1000, "300s", "300s", "ALIGN_MEAN", "", nil,
			[]string{"More than 1000 messages", "maxReplicas"}, nil},
		{"sub-jobs-jobs-worker-dead-lettered", KindDeadLettered, SeverityError,
			`metric.type="pubsub.googleapis.com/subscription/dead_letter_message_count" AND ` + sub + `"jobs-worker-x1"`,
			false, 0, "0s", "300s", "ALIGN_SUM", "", nil,
			[]string{"all 5 delivery attempts", "`jobs-worker-dead-letter-x1`", "make ops",
				"bin/deadletters inspect --stack test --pair jobs/jobs-worker", "bin/deadletters replay  --stack test --pair jobs/jobs-worker --dry-run",
				"bin/deadletters replay  --stack test --pair jobs/jobs-worker --rate 10"}, nil},
		{"sub-jobs-jobs-worker-dead-letters-waiting", KindDeadLetterWait, SeverityWarning,
			`metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND ` + sub + `"jobs-worker-dead-letter-x1"`,
			false, 0, "0s", "300s", "ALIGN_MAX", "", nil,
			[]string{"stays open until the dead-letter subscription is empty", "bin/deadletters replay  --stack test --pair jobs/jobs-worker --dry-run"}, nil},
		{"queue-sample-queue-depth", KindQueueDepth, SeverityWarning,
			`metric.type="cloudtasks.googleapis.com/queue/depth" AND ` + queue,
			false, 1000, "300s", "300s", "ALIGN_MEAN", "", nil,
			[]string{"more than 1000 tasks", "gcloud tasks queues describe sample-queue-x1 --location asia-northeast1 --project p",
				"gcloud tasks queues resume sample-queue-x1", `bin/enqueue --stack test --queue sample-queue --body '{"message": "test message"}'`}, nil},
		{"queue-sample-queue-failed-attempts", KindFailedAttempts, SeverityError,
			`metric.type="cloudtasks.googleapis.com/queue/task_attempt_count" AND ` + queue + ` AND metric.label.response_code!="ok"`,
			false, 0.1, "300s", "300s", "ALIGN_RATE", "REDUCE_SUM", []any{"resource.label.queue_id"},
			[]string{"other than 2xx", `resource.labels.queue_id="sample-queue-x1"`, "bin/enqueue --stack test --queue sample-queue"}, nil},
		{"cronjob-every-minute-failed", KindCronJobFailed, SeverityError, "", false, 0, "", "", "", "", nil,
			[]string{"BackoffLimitExceeded", "DeadlineExceeded", "`asyncjobs-cronjob-failed-x1`",
				"gcloud container clusters get-credentials c1 --location asia-northeast1 --project p-gke",
				"kubectl --namespace jobs get jobs -l app.kubernetes.io/name=every-minute", "create job every-minute-manual-$(date +%s) --from=cronjob/every-minute"},
			[]string{`logName="projects/p-gke/logs/events"`, `resource.labels.cluster_name="c1"`, `jsonPayload.involvedObject.kind="Job"`,
				`jsonPayload.involvedObject.namespace="jobs"`, `jsonPayload.involvedObject.name=~"^(every-minute)-[0-9]+$"`,
				`jsonPayload.reason=("BackoffLimitExceeded" OR "DeadlineExceeded")`}},
		{"cronjob-every-minute-missed", KindCronJobMissed, SeverityError, "", false, 0, "", "", "", "", nil,
			[]string{"MissSchedule", "TooManyMissedTimes", "JobAlreadyActive", "schedule `* * * * *`", "--field-selector involvedObject.name=every-minute"},
			[]string{`jsonPayload.involvedObject.kind="CronJob"`, `jsonPayload.involvedObject.name=("every-minute")`,
				`jsonPayload.reason=("MissSchedule" OR "TooManyMissedTimes" OR "JobAlreadyActive")`}},
		{"cronjob-every-minute-overdue", KindCronJobOverdue, SeverityError,
			// The project's counter, shared by every stack there: no suffix.
			userTypes + `completed" AND ` + cluster + `"every-minute"`,
			true, 0, "120s", "60s", "ALIGN_SUM", "REDUCE_SUM", []any{"metric.label.cronjob"},
			[]string{"for 2m", "log-based metric `asyncjobs-cronjob-completed` of project `p-gke`, which the bootstrap created",
				"one completion has been seen", ".spec.suspend"}, nil},
		{"cronjob-nightly.report-failed", KindCronJobFailed, SeverityError, "", false, 0, "", "", "", "", nil, []string{"`nightly.report`"},
			[]string{`jsonPayload.involvedObject.name=~"^(nightly[.]report)-[0-9]+$"`}},
		{"cronjob-nightly.report-missed", KindCronJobMissed, SeverityError, "", false, 0, "", "", "", "", nil, []string{"schedule `0 3 * * *`"},
			[]string{`jsonPayload.involvedObject.name=("nightly.report")`}},
	}
	policies := plan.ByType(policyType)
	if len(policies) != len(cases) {
		var names []string
		for _, p := range policies {
			names = append(names, p.Name)
		}
		t.Fatalf("%d alert policies %v, want %d", len(policies), names, len(cases))
	}
	// The daily job runs 24h apart: its 48h overdue window is longer than an
	// absence condition may be, so it has no overdue policy.
	if r := plan.Find(policyType, "monitoring-cronjob-nightly.report-overdue"); r != nil {
		t.Errorf("the daily CronJob has an overdue policy")
	}
	created := map[string]bool{}
	for _, m := range plan.ByType(metricType) {
		created[UserMetricPrefix+str(t, m, "name")] = true
	}
	if len(created) != 2 {
		t.Fatalf("the component creates log-based metrics %v, want the failed and missed counters", created)
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			r := plantest.Find(t, plan, policyType, "monitoring-"+tc.key)
			plantest.ChildOf(t, r, comp)
			plantest.Inputs(t, r, map[string]any{
				"project":                    "p",
				"combiner":                   "OR",
				"severity":                   tc.severity,
				"userLabels.asyncjobs-alert": tc.kind,
				"userLabels.environment":     "test",
				"documentation.mimeType":     "text/markdown",
				"notificationChannels":       []any{existing, "projects/p/notificationChannels/simulated-monitoring-email-0"},
				"conditions.0.displayName":   strings.TrimPrefix(str(t, r, "documentation.subject"), "[test] "),
			})
			if n := len(r.Inputs["conditions"].([]any)); n != 1 {
				t.Errorf("%d conditions, want 1", n)
			}
			cond := "conditions.0.conditionThreshold"
			if len(tc.logMatch) > 0 {
				// No metric: nothing for Monitoring to not know yet on a
				// stack's first up.
				plantest.Absent(t, r, cond)
				plantest.Absent(t, r, "conditions.0.conditionAbsent")
				q := str(t, r, "conditions.0.conditionMatchedLog.filter")
				for _, want := range tc.logMatch {
					if !strings.Contains(q, want) {
						t.Errorf("log query lacks %s:\n%s", want, q)
					}
				}
				plantest.Inputs(t, r, map[string]any{
					"alertStrategy.notificationRateLimit.period": "300s",
					"alertStrategy.autoClose":                    "1800s",
				})
				return
			}
			plantest.Absent(t, r, "alertStrategy")
			if tc.absent {
				cond = "conditions.0.conditionAbsent"
				plantest.Absent(t, r, "conditions.0.conditionThreshold")
			} else {
				plantest.Absent(t, r, "conditions.0.conditionAbsent")
				plantest.Inputs(t, r, map[string]any{cond + ".comparison": "COMPARISON_GT", cond + ".thresholdValue": tc.threshold})
			}
			plantest.Inputs(t, r, map[string]any{
				cond + ".filter":                          tc.filter,
				cond + ".duration":                        tc.duration,
				cond + ".trigger.count":                   1.0,
				cond + ".aggregations.0.alignmentPeriod":  tc.alignment,
				cond + ".aggregations.0.perSeriesAligner": tc.aligner,
			})
			if tc.reducer == "" {
				plantest.Absent(t, r, cond+".aggregations.0.crossSeriesReducer")
				plantest.Absent(t, r, cond+".aggregations.0.groupByFields")
			} else {
				plantest.Inputs(t, r, map[string]any{
					cond + ".aggregations.0.crossSeriesReducer": tc.reducer,
					cond + ".aggregations.0.groupByFields":      tc.groupBy,
				})
			}
			if !strings.HasPrefix(str(t, r, "displayName"), "[test] ") || !strings.HasPrefix(str(t, r, "documentation.subject"), "[test] ") {
				t.Errorf("display name %q / subject %q do not name the stack", r.Inputs["displayName"], str(t, r, "documentation.subject"))
			}
			doc := str(t, r, "documentation.content")
			for _, want := range append([]string{"**What fired.**", "**What it means.**", "**What to do.**"}, tc.docs...) {
				if !strings.Contains(doc, want) {
					t.Errorf("documentation lacks %q:\n%s", want, doc)
				}
			}
			if len([]rune(doc)) > 8192 {
				t.Errorf("documentation has %d characters, the API takes 8192", len([]rune(doc)))
			}
			// No policy reads a metric created in the same update: Cloud
			// Monitoring refuses it for up to 10 minutes.
			for typ := range created {
				if strings.Contains(str(t, r, cond+".filter"), `metric.type="`+typ+`"`) {
					t.Errorf("reads %s, which the same update creates", typ)
				}
			}
		})
	}

	var names []any
	for _, p := range policies {
		names = append(names, "projects/p/alertPolicies/simulated-"+p.Name)
	}
	got, _ := plan.Outputs["alertPolicies"].([]any)
	sortAny(got)
	sortAny(names)
	if !reflect.DeepEqual(got, names) {
		t.Errorf("alertPolicies output %v, want %v", got, names)
	}
	if plan.Outputs["dashboard"] != "projects/p/dashboards/simulated-monitoring-dashboard" {
		t.Errorf("dashboard output %v", plan.Outputs["dashboard"])
	}
}

func sortAny(s []any) {
	sort.Slice(s, func(i, j int) bool { return s[i].(string) < s[j].(string) })
}

func TestNotificationChannels(t *testing.T) {
	plan := record(t, testArgs())
	channels := plan.ByType(channelType)
	if len(channels) != 1 {
		t.Fatalf("%d channels, want one for the e-mail address (the existing one is only referenced)", len(channels))
	}
	ch := plantest.Find(t, plan, channelType, "monitoring-email-0")
	plantest.ChildOf(t, ch, plantest.Find(t, plan, TypeToken, "monitoring"))
	plantest.Inputs(t, ch, map[string]any{
		"project":                "p",
		"type":                   "email",
		"labels.email_address":   "oncall@example.com",
		"userLabels.environment": "test",
		"displayName":            "asyncjobs test: oncall@example.com",
	})
	want := []any{existing, "projects/p/notificationChannels/simulated-monitoring-email-0"}
	if got := plan.Outputs["notificationChannels"]; !reflect.DeepEqual(got, want) {
		t.Errorf("notificationChannels output %v, want %v", got, want)
	}

	// In a preview the created channel's name is not known yet, but every
	// policy still names two channels.
	preview, err := recorder.Run(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "monitoring", testArgs())
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test", Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range preview.ByType(policyType) {
		plantest.Input(t, p, "notificationChannels", []any{existing, recorder.Computed})
	}

	// Without channels the policies notify nobody (the stack warns, or
	// refuses that in production).
	args := testArgs()
	args.Spec.NotificationChannels, args.Spec.Emails = nil, nil
	plan = record(t, args)
	if len(plan.ByType(channelType)) != 0 {
		t.Error("channels created without addresses")
	}
	for _, p := range plan.ByType(policyType) {
		plantest.Input(t, p, "notificationChannels", []any{})
	}
}

func TestDisabledKeepsTheDashboard(t *testing.T) {
	args := testArgs()
	args.Spec.Enabled = false
	plan := record(t, args)
	for _, typ := range []string{policyType, channelType} {
		if n := len(plan.ByType(typ)); n != 0 {
			t.Errorf("%d %s with alerting disabled", n, typ)
		}
	}
	plantest.Find(t, plan, boardType, "monitoring-dashboard")
	if n := len(plan.ByType(metricType)); n != 2 {
		t.Errorf("%d log-based metrics, want the 2 of the stack the dashboard charts", n)
	}
}

func TestLogMetrics(t *testing.T) {
	plan := record(t, testArgs())
	events := []string{
		`logName="projects/p-gke/logs/events"`,
		`resource.type="k8s_cluster"`,
		`resource.labels.project_id="p-gke"`,
		`resource.labels.location="asia-northeast1"`,
		`resource.labels.cluster_name="c1"`,
	}
	jobs := `jsonPayload.involvedObject.name=~"^(every-minute|nightly[.]report)-[0-9]+$"`
	cases := []struct {
		name, metric string
		filter       []string
		labels       []string
		extractors   map[string]any
	}{
		{"monitoring-cronjob-failed", "asyncjobs-cronjob-failed-x1",
			append(append([]string{}, events...), `jsonPayload.involvedObject.kind="Job"`, `jsonPayload.involvedObject.namespace="jobs"`, jobs,
				`jsonPayload.reason=("BackoffLimitExceeded" OR "DeadlineExceeded")`),
			[]string{"cronjob", "namespace", "reason"},
			map[string]any{"cronjob": `REGEXP_EXTRACT(jsonPayload.involvedObject.name, "^(.+)-[0-9]+$")`,
				"namespace": "EXTRACT(jsonPayload.involvedObject.namespace)", "reason": "EXTRACT(jsonPayload.reason)"}},
		{"monitoring-cronjob-missed", "asyncjobs-cronjob-missed-x1",
			append(append([]string{}, events...), `jsonPayload.involvedObject.kind="CronJob"`, `jsonPayload.involvedObject.namespace="jobs"`,
				`jsonPayload.involvedObject.name=("every-minute" OR "nightly.report")`,
				`jsonPayload.reason=("MissSchedule" OR "TooManyMissedTimes" OR "JobAlreadyActive")`),
			[]string{"cronjob", "namespace", "reason"},
			map[string]any{"cronjob": "EXTRACT(jsonPayload.involvedObject.name)",
				"namespace": "EXTRACT(jsonPayload.involvedObject.namespace)", "reason": "EXTRACT(jsonPayload.reason)"}},
	}
	if n := len(plan.ByType(metricType)); n != len(cases) {
		t.Fatalf("%d log-based metrics, want %d", n, len(cases))
	}
	for _, tc := range cases {
		r := plantest.Find(t, plan, metricType, tc.name)
		plantest.Inputs(t, r, map[string]any{
			"project":                     "p-gke",
			"name":                        tc.metric,
			"filter":                      strings.Join(tc.filter, "\n"),
			"metricDescriptor.metricKind": "DELTA",
			"metricDescriptor.valueType":  "INT64",
			"labelExtractors":             tc.extractors,
		})
		var keys []string
		labels, _ := r.Input("metricDescriptor.labels")
		for _, l := range labels.([]any) {
			keys = append(keys, l.(map[string]any)["key"].(string))
		}
		if !reflect.DeepEqual(keys, tc.labels) {
			t.Errorf("%s labels %v, want %v", tc.name, keys, tc.labels)
		}
	}

	// No CronJobs, no log-based metrics.
	args := testArgs()
	args.CronJobs = nil
	if n := len(record(t, args).ByType(metricType)); n != 0 {
		t.Errorf("%d log-based metrics without CronJobs", n)
	}
}

func TestDashboard(t *testing.T) {
	plan := record(t, testArgs())
	board := plantest.Find(t, plan, boardType, "monitoring-dashboard")
	plantest.ChildOf(t, board, plantest.Find(t, plan, TypeToken, "monitoring"))
	plantest.Input(t, board, "project", "p")
	if len(board.Dependencies) < len(plan.ByType(metricType)) {
		t.Errorf("the dashboard does not wait for the log-based metrics: %v", board.Dependencies)
	}

	// Parse it back strictly: every field is one the schema types know.
	var d Dashboard
	dec := json.NewDecoder(bytes.NewReader([]byte(str(t, board, "dashboardJson"))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.DisplayName != "asyncjobs test" || d.MosaicLayout.Columns != 48 {
		t.Errorf("display name %q, columns %d", d.DisplayName, d.MosaicLayout.Columns)
	}

	// Tiles stay inside the grid and never overlap.
	for i, a := range d.MosaicLayout.Tiles {
		if a.XPos < 0 || a.Width <= 0 || a.Height <= 0 || a.XPos+a.Width > 48 {
			t.Errorf("tile %d (%q) leaves the grid: %+v", i, a.Widget.Title, a)
		}
		for j, b := range d.MosaicLayout.Tiles[:i] {
			if a.XPos < b.XPos+b.Width && b.XPos < a.XPos+a.Width && a.YPos < b.YPos+b.Height && b.YPos < a.YPos+a.Height {
				t.Errorf("tiles %d and %d overlap", j, i)
			}
		}
	}

	type chart struct {
		filters    []string
		thresholds []float64
	}
	charts := map[string]chart{}
	for _, tile := range d.MosaicLayout.Tiles {
		c := tile.Widget.XYChart
		if c == nil {
			continue
		}
		var ch chart
		for _, s := range c.DataSets {
			ch.filters = append(ch.filters, s.TimeSeriesQuery.TimeSeriesFilter.Filter)
			if a := s.TimeSeriesQuery.TimeSeriesFilter.Aggregation; a.AlignmentPeriod != "60s" || a.PerSeriesAligner == "" {
				t.Errorf("%s: aggregation %+v", tile.Widget.Title, a)
			}
		}
		for _, th := range c.Thresholds {
			ch.thresholds = append(ch.thresholds, th.Value)
		}
		charts[tile.Widget.Title] = ch
	}
	a := testArgs()
	sub, dl, q := a.Subscriptions[0], "jobs-worker-dead-letter-x1", a.Queues[0]
	names := a.metricNames()
	want := map[string]chart{
		"Worker worker-x1: requests/s by response class": {[]string{ServiceFilter(MetricRunRequests, "p", "asia-northeast1", "worker-x1")}, []float64{0.1}},
		"Worker worker-x1: request latency (ms)": {[]string{ServiceFilter(MetricRunLatencies, "p", "asia-northeast1", "worker-x1"),
			ServiceFilter(MetricRunLatencies, "p", "asia-northeast1", "worker-x1")}, nil},
		"Worker worker-x1: instances":                    {[]string{ServiceFilter(MetricRunInstances, "p", "asia-northeast1", "worker-x1")}, nil},
		"jobs-worker-x1: undelivered messages":           {[]string{SubscriptionFilter(MetricUndeliveredMessages, "p", sub.Name)}, []float64{1000}},
		"jobs-worker-x1: oldest unacked message age (s)": {[]string{SubscriptionFilter(MetricOldestUnackedAge, "p", sub.Name)}, []float64{3300}},
		"jobs-worker-x1: dead letters": {[]string{SubscriptionFilter(MetricDeadLetterMessages, "p", sub.Name),
			SubscriptionFilter(MetricUndeliveredMessages, "p", dl)}, nil},
		"sample-queue-x1: queue depth":                          {[]string{QueueFilter(MetricQueueDepth, "p", q.Location, q.ID)}, []float64{1000}},
		"sample-queue-x1: dispatch attempts/s by response code": {[]string{QueueFilter(MetricTaskAttempts, "p", q.Location, q.ID)}, nil},
	}
	for _, c := range a.CronJobs {
		want["CronJob "+c.Name+": runs"] = chart{[]string{
			CronJobFilter(MetricCronJobCompleted, a.Cluster, c.Name), CronJobFilter(names.failed, a.Cluster, c.Name), CronJobFilter(names.missed, a.Cluster, c.Name),
		}, nil}
	}
	if !reflect.DeepEqual(charts, want) {
		for title := range want {
			if !reflect.DeepEqual(charts[title], want[title]) {
				t.Errorf("chart %q: got %+v, want %+v", title, charts[title], want[title])
			}
		}
		for title := range charts {
			if _, ok := want[title]; !ok {
				t.Errorf("unexpected chart %q", title)
			}
		}
	}
	// The charts read exactly what the metric-based alerts read (a
	// log-match alert reads the events the failed and missed counters,
	// charted above, count).
	for _, p := range plan.ByType(policyType) {
		if _, logMatch := p.Input("conditions.0.conditionMatchedLog.filter"); logMatch {
			continue
		}
		f, ok := p.Input("conditions.0.conditionThreshold.filter")
		if !ok {
			f, _ = p.Input("conditions.0.conditionAbsent.filter")
		}
		base, _, _ := strings.Cut(f.(string), " AND metric.label.response_")
		found := false
		for _, c := range charts {
			for _, cf := range c.filters {
				found = found || cf == base
			}
		}
		if !found {
			t.Errorf("policy %s reads %s, which no chart shows", p.Name, base)
		}
	}
}

func TestDashboardWithoutOptionalResources(t *testing.T) {
	a := testArgs()
	a.Subscriptions, a.Queues, a.CronJobs = nil, nil, nil
	d := BuildDashboard(a)
	var charts, texts int
	for _, tile := range d.MosaicLayout.Tiles {
		if tile.Widget.XYChart != nil {
			charts++
		}
		if tile.Widget.Text != nil {
			texts++
		}
	}
	if charts != 3 || texts != 1 {
		t.Errorf("%d charts and %d headings for a worker alone, want 3 and 1", charts, texts)
	}
	if alerts, err := Alerts(a); err != nil || len(alerts) != 1 {
		t.Errorf("%d alerts for a worker alone (%v), want 1", len(alerts), err)
	}
}
