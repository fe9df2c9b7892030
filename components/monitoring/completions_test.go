package monitoring

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

func TestCompletionsMetric(t *testing.T) {
	m := CompletionsMetric("p-gke")
	if m.Name != "asyncjobs-cronjob-completed" {
		t.Errorf("name %q: the bootstrap's metric and the stacks' alerts must agree on it", m.Name)
	}
	want := []string{
		`logName="projects/p-gke/logs/events"`,
		`resource.type="k8s_cluster"`,
		`resource.labels.project_id="p-gke"`,
		`jsonPayload.involvedObject.kind="Job"`,
		`jsonPayload.involvedObject.name=~"^[a-z0-9][-.a-z0-9]{0,51}-[0-9]{8}$"`,
		`jsonPayload.reason="Completed"`,
	}
	if got := strings.Split(m.Filter, "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("filter\n%s\nwant\n%s", m.Filter, strings.Join(want, "\n"))
	}
	// Every cluster and namespace of the project: the stacks' alerts select
	// theirs by the labels below.
	for _, narrow := range []string{"cluster_name", "location", "involvedObject.namespace"} {
		if strings.Contains(m.Filter, narrow) {
			t.Errorf("filter narrows by %s: stacks share the metric", narrow)
		}
	}
	var keys []string
	for _, l := range m.Labels {
		keys = append(keys, l.Key)
		if m.Extractors[l.Key] == "" {
			t.Errorf("label %s has no extractor", l.Key)
		}
	}
	if !reflect.DeepEqual(keys, []string{"cronjob", "namespace"}) || len(m.Extractors) != 2 {
		t.Errorf("labels %v, extractors %v: want cronjob and namespace, which CronJobFilter selects by", keys, m.Extractors)
	}
	if f := CronJobFilter(m.Name, Cluster{Project: "p-gke", Location: "l", Name: "c", Namespace: "ns"}, "j"); !strings.Contains(f,
		`metric.label.namespace="ns" AND metric.label.cronjob="j"`) {
		t.Errorf("an overdue alert's filter %s does not select by the metric's labels", f)
	}
}

// TestCompletionsMetricCountsCronJobRuns evaluates the filter's name
// pattern and the cronjob extractor (both RE2, as Go's regexp) on Job
// names made as the CronJob controller makes them, and on others.
func TestCompletionsMetricCountsCronJobRuns(t *testing.T) {
	pattern := regexp.MustCompile(cronJobMadeJobName)
	extractor := regexp.MustCompile(regexp.MustCompile(`"(.+)"\)$`).FindStringSubmatch(jobNameExtractor)[1])
	// kubernetes pkg/controller/cronjob: getJobName = <name>-<Unix minutes>.
	jobName := func(cronJob string, at time.Time) string { return fmt.Sprintf("%s-%d", cronJob, at.Unix()/60) }
	long := strings.Repeat("a", 52)
	for _, tc := range []struct{ cronJob string }{{"indexed-echo"}, {"nightly.report"}, {"x"}, {long}} {
		for _, at := range []time.Time{time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), time.Date(2150, 12, 31, 23, 59, 0, 0, time.UTC)} {
			name := jobName(tc.cronJob, at)
			if !pattern.MatchString(name) {
				t.Errorf("Job %s of CronJob %s is not counted", name, tc.cronJob)
			}
			if got := extractor.FindStringSubmatch(name); len(got) < 2 || got[1] != tc.cronJob {
				t.Errorf("Job %s: cronjob label %v, want %s", name, got, tc.cronJob)
			}
		}
	}
	for _, name := range []string{
		"migrate",                        // a Job made by hand
		"migrate-1",                      // numbered by hand
		"every-minute-manual-1767323045", // the runbooks' `date +%s`
		"build-7f9c2d1a",                 // hashed names
		"Indexed-echo-29455384",          // not a DNS name
		long + "a-29455384",              // longer than a CronJob name may be
	} {
		if pattern.MatchString(name) {
			t.Errorf("Job %s is counted, but no CronJob made it", name)
		}
	}
}

// TestNoStackMakesTheCompletionsMetric: the component never declares the
// project's counter, whatever its arguments, and its overdue alerts read
// it without the stack's suffix.
func TestNoStackMakesTheCompletionsMetric(t *testing.T) {
	for _, suffix := range []string{"", "x1"} {
		args := testArgs()
		args.Spec.Names = resolvedNames("test", suffix)
		plan, err := recorder.Run(func(ctx *pulumi.Context) error {
			_, err := New(ctx, "monitoring", args)
			return err
		}, recorder.Options{Project: "asyncjobs", Stack: "test"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range plan.ByType(metricType) {
			if n := str(t, r, "name"); strings.HasPrefix(n, MetricCronJobCompleted) {
				t.Errorf("suffix %q: the stack declares %s", suffix, n)
			}
		}
		overdue := plantest.Find(t, plan, policyType, "monitoring-cronjob-every-minute-overdue")
		if f := str(t, overdue, "conditions.0.conditionAbsent.filter"); !strings.HasPrefix(f, `metric.type="`+UserMetricPrefix+MetricCronJobCompleted+`" AND `) {
			t.Errorf("suffix %q: overdue alert reads %s", suffix, f)
		}
	}
}
