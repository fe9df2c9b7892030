package stacks_test

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/stacks"
)

const alertPolicyType = "gcp:monitoring/alertPolicy:AlertPolicy"

func warningsAt(ws []stacks.Warning, path string) []string {
	var out []string
	for _, w := range ws {
		if w.Path == path {
			out = append(out, w.Message)
		}
	}
	return out
}

// TestDevWarnsThatAlertsNotifyNobody: the dev stack sets no channel, which
// is valid there and a warning.
func TestDevWarnsThatAlertsNotifyNobody(t *testing.T) {
	st := loadStack(t, "dev")
	cfg, err := stacks.Load("dev", stacks.Source(st.Config))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IsProduction() {
		t.Fatalf("dev counts as production: %v", cfg.ProductionReasons())
	}
	ws := cfg.Warnings()
	if got := warningsAt(ws, "asyncjobs:alerting.notificationChannels"); len(got) != 1 || !strings.Contains(got[0], "notify nobody") {
		t.Errorf("want the no-channel warning, got %v", ws)
	}
	// The every-minute CronJob gets an overdue alert: no warning about it.
	if got := warningsAt(ws, "asyncjobs:cronJobs[0].schedule"); len(got) != 0 {
		t.Errorf("unexpected schedule warnings %v", got)
	}

	// A channel silences the warning.
	src := copyConfig(st.Config)
	setIn(t, src, "asyncjobs:alerting", "emails", []any{"dev-team@example.com"})
	cfg, err = stacks.Load("dev", stacks.Source(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := warningsAt(cfg.Warnings(), "asyncjobs:alerting.notificationChannels"); len(got) != 0 {
		t.Errorf("warning with a channel set: %v", got)
	}
}

// TestProductionNeedsChannels: by name or by label, a production stack
// without a notification channel is refused with the key path; the prod
// stack file passes.
func TestProductionNeedsChannels(t *testing.T) {
	dev := loadStack(t, "dev")
	for _, tc := range []struct {
		stack, label string
		production   bool
		reason       string
	}{
		{"prod", "dev", true, `stack "prod" is a production stack`},
		{"production", "dev", true, `stack "production" is a production stack`},
		{"prod-eu", "dev", true, `stack "prod-eu" is a production stack`},
		{"dev", "prod", true, "labels environment=prod"},
		{"pr-12", "production", true, "labels environment=production"},
		{"dev", "dev", false, ""},
		{"prodlike", "staging", false, ""},
	} {
		t.Run(tc.stack+"/"+tc.label, func(t *testing.T) {
			src := copyConfig(dev.Config)
			setIn(t, src, "asyncjobs:labels", "environment", tc.label)
			_, err := stacks.Load(tc.stack, stacks.Source(src))
			if !tc.production {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			cfgErr, ok := err.(*stacks.ConfigError)
			if !ok {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if len(cfgErr.Errs) != 1 || cfgErr.Errs[0].Field != "asyncjobs:alerting.notificationChannels" ||
				!strings.Contains(cfgErr.Errs[0].Detail, tc.reason) || !strings.Contains(cfgErr.Errs[0].Detail, "must notify someone") {
				t.Errorf("got %v", cfgErr)
			}

			// The program refuses it the same way, with nothing registered.
			plan, err := record(t, dev, src, true)
			if tc.label != "dev" && (err == nil || !strings.Contains(err.Error(), "must notify someone") || len(plan.Resources) != 0) {
				t.Errorf("the program accepted it (%v)", err)
			}

			// An e-mail channel is enough.
			setIn(t, src, "asyncjobs:alerting", "emails", []any{"oncall@example.com"})
			if _, err := stacks.Load(tc.stack, stacks.Source(src)); err != nil {
				t.Errorf("refused with a channel: %v", err)
			}
			// Turning alerting off is not an error, but warned about.
			src = copyConfig(dev.Config)
			setIn(t, src, "asyncjobs:labels", "environment", tc.label)
			setIn(t, src, "asyncjobs:alerting", "enabled", false)
			cfg, err := stacks.Load(tc.stack, stacks.Source(src))
			if err != nil {
				t.Fatal(err)
			}
			if got := warningsAt(cfg.Warnings(), "asyncjobs:alerting.enabled"); len(got) != 1 {
				t.Errorf("want a warning about production without alerts, got %v", cfg.Warnings())
			}
		})
	}

	prod := loadStack(t, "prod")
	cfg, err := stacks.Load("prod", stacks.Source(prod.Config))
	if err != nil {
		t.Fatalf("the prod stack file is refused: %v", err)
	}
	ws := cfg.Warnings()
	if got := warningsAt(ws, "asyncjobs:alerting.notificationChannels"); len(got) != 0 {
		t.Errorf("prod warns about channels: %v", got)
	}
	// The nightly job runs 24h apart; 48h is more than an absence
	// condition may cover, which the stack says.
	got := warningsAt(ws, "asyncjobs:cronJobs[0].schedule")
	if len(got) != 1 || !strings.Contains(got[0], "no overdue alert for CronJob nightly-report") || !strings.Contains(got[0], "up to 1d apart") ||
		!strings.Contains(got[0], "after 2d") || !strings.Contains(got[0], "23h30m") {
		t.Errorf("want the overdue-window warning, got %v", ws)
	}
}

// TestProductionDefinitionMatchesPolicy keeps the Go definition of a
// production stack equal to the one the policy rules use.
func TestProductionDefinitionMatchesPolicy(t *testing.T) {
	b, err := os.ReadFile("../policy/lib.rego")
	if err != nil {
		t.Fatal(err)
	}
	lib := string(b)
	set := func(name string) []string {
		m := regexp.MustCompile(`(?m)^` + name + ` := \{([^}]*)\}`).FindStringSubmatch(lib)
		if m == nil {
			t.Fatalf("policy/lib.rego has no %s", name)
		}
		var out []string
		for _, v := range strings.Split(m[1], ",") {
			out = append(out, strings.Trim(strings.TrimSpace(v), `"`))
		}
		sort.Strings(out)
		return out
	}
	sorted := func(s []string) []string {
		out := append([]string{}, s...)
		sort.Strings(out)
		return out
	}
	if got, want := set("production_stack_names"), sorted(stacks.ProductionStackNames); !reflect.DeepEqual(got, want) {
		t.Errorf("policy production_stack_names %v, Go %v", got, want)
	}
	if got, want := set("production_label_values"), sorted(stacks.ProductionLabelValues); !reflect.DeepEqual(got, want) {
		t.Errorf("policy production_label_values %v, Go %v", got, want)
	}
	if !strings.Contains(lib, `startswith(name, "`+stacks.ProductionStackPrefix+`")`) {
		t.Errorf("policy/lib.rego does not treat the prefix %q as production", stacks.ProductionStackPrefix)
	}
	if !strings.Contains(lib, "r.__properties.labels."+stacks.ProductionLabel) {
		t.Errorf("policy/lib.rego does not read the %s label", stacks.ProductionLabel)
	}
}

// TestAlertsWatchThePhysicalResources: every policy's filter names one
// resource by its physical name (the suffix included), the policies wait
// for API enablement, and both stack files get the dashboard.
func TestAlertsWatchThePhysicalResources(t *testing.T) {
	dev := loadStack(t, "dev")
	src := copyConfig(dev.Config)
	src["asyncjobs:nameSuffix"] = "t1"
	plan, err := record(t, dev, src, true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"monitoring-worker-5xx":                                `resource.label.service_name="worker-t1"`,
		"monitoring-sub-jobs-jobs-worker-oldest-unacked":       `resource.label.subscription_id="jobs-worker-t1"`,
		"monitoring-sub-jobs-jobs-worker-undelivered":          `resource.label.subscription_id="jobs-worker-t1"`,
		"monitoring-sub-jobs-jobs-worker-dead-lettered":        `resource.label.subscription_id="jobs-worker-t1"`,
		"monitoring-sub-jobs-jobs-worker-dead-letters-waiting": `resource.label.subscription_id="jobs-worker-dead-letter-t1"`,
		"monitoring-queue-sample-queue-depth":                  `resource.label.queue_id="sample-queue-t1"`,
		"monitoring-queue-sample-queue-failed-attempts":        `resource.label.queue_id="sample-queue-t1"`,
		"monitoring-cronjob-indexed-echo-failed": `resource.labels.cluster_name="asyncjobs-dev"` + "\n" +
			`jsonPayload.involvedObject.kind="Job"` + "\n" + `jsonPayload.involvedObject.namespace="asyncjobs-t1"`,
		"monitoring-cronjob-indexed-echo-missed": `jsonPayload.involvedObject.namespace="asyncjobs-t1"` + "\n" +
			`jsonPayload.involvedObject.name=("indexed-echo")`,
		"monitoring-cronjob-indexed-echo-overdue": `user/asyncjobs-cronjob-completed" AND resource.type="k8s_cluster"`,
	}
	policies := plan.ByType(alertPolicyType)
	if len(policies) != len(want) {
		t.Fatalf("%d alert policies, want %d", len(policies), len(want))
	}
	apis := map[string]bool{}
	for _, r := range plan.ByType("gcp:projects/service:Service") {
		apis[r.URN] = true
	}
	for name, part := range want {
		r := plantest.Find(t, plan, alertPolicyType, name)
		f, ok := r.Input("conditions.0.conditionThreshold.filter")
		if !ok {
			f, ok = r.Input("conditions.0.conditionAbsent.filter")
		}
		if !ok {
			f, _ = r.Input("conditions.0.conditionMatchedLog.filter")
		}
		if s, _ := f.(string); !strings.Contains(s, part) {
			t.Errorf("%s filter %v lacks %s", name, f, part)
		}
		waits := 0
		for _, d := range r.Dependencies {
			if apis[d] {
				waits++
			}
		}
		if waits != len(apis) || waits == 0 {
			t.Errorf("%s waits for %d of %d APIs", name, waits, len(apis))
		}
	}
	overdue := plantest.Find(t, plan, alertPolicyType, "monitoring-cronjob-indexed-echo-overdue")
	plantest.Input(t, overdue, "conditions.0.conditionAbsent.duration", "120s")
	// The project's counter is shared: the test stack's series are its own
	// namespace's.
	if f := filterOf(t, overdue); !strings.Contains(f, `metric.label.namespace="asyncjobs-t1" AND metric.label.cronjob="indexed-echo"`) {
		t.Errorf("overdue filter %s does not select the test stack's namespace", f)
	}
	for _, m := range plan.ByType("gcp:logging/metric:Metric") {
		if n, _ := m.Inputs["name"].(string); !strings.HasSuffix(n, "-t1") {
			t.Errorf("log-based metric %s has no suffix", n)
		}
	}

	prod := loadStack(t, "prod")
	plan, err = record(t, prod, prod.Config, true)
	if err != nil {
		t.Fatal(err)
	}
	plantest.Find(t, plan, "gcp:monitoring/dashboard:Dashboard", "monitoring-dashboard")
	plantest.Input(t, plantest.Find(t, plan, "gcp:monitoring/notificationChannel:NotificationChannel", "monitoring-email-0"),
		"labels.email_address", "oncall@example.com")
	for _, p := range plan.ByType(alertPolicyType) {
		if chans, _ := p.Inputs["notificationChannels"].([]any); len(chans) != 1 {
			t.Errorf("prod policy %s notifies %v", p.Name, p.Inputs["notificationChannels"])
		}
	}
	if r := plan.Find(alertPolicyType, "monitoring-cronjob-nightly-report-overdue"); r != nil {
		t.Error("the daily job got an overdue policy its window cannot fit")
	}
	if n := len(plan.ByType(alertPolicyType)); n != 1+2*4+2+2 {
		t.Errorf("prod has %d alert policies, want 13 (worker, 2 subscriptions x 4, queue x 2, CronJob failed and missed)", n)
	}
}

// TestClusterInAnotherProject: the log-based metrics follow the cluster's
// project, and the stack says the metrics scope must include it.
func TestClusterInAnotherProject(t *testing.T) {
	dev := loadStack(t, "dev")
	src := copyConfig(dev.Config)
	setIn(t, src, "asyncjobs:gke", "project", "asyncjobs-shared")
	cfg, err := stacks.Load("dev", stacks.Source(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := warningsAt(cfg.Warnings(), "asyncjobs:gke.project"); len(got) != 1 || !strings.Contains(got[0], "metrics scope of asyncjobs-dev") {
		t.Errorf("want the metrics-scope warning, got %v", cfg.Warnings())
	}
	plan, err := record(t, dev, src, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range plan.ByType("gcp:logging/metric:Metric") {
		plantest.Input(t, m, "project", "asyncjobs-shared")
		if f, _ := m.Inputs["filter"].(string); !strings.Contains(f, `logName="projects/asyncjobs-shared/logs/events"`) {
			t.Errorf("%s reads %s", m.Name, f)
		}
	}
	// The overdue alert reads the completions metric of the cluster's
	// project, where the bootstrap makes it (its clusterProject).
	if got := cfg.ClusterProject(); got != "asyncjobs-shared" {
		t.Errorf("ClusterProject() = %s", got)
	}
	overdue := plantest.Find(t, plan, alertPolicyType, "monitoring-cronjob-indexed-echo-overdue")
	if f := filterOf(t, overdue); !strings.Contains(f, `resource.label.project_id="asyncjobs-shared"`) {
		t.Errorf("overdue filter %s does not read the cluster's project", f)
	}
}

func filterOf(t *testing.T, r *recorder.Resource) string {
	t.Helper()
	f, ok := r.Inputs["conditions"].([]any)
	if !ok || len(f) != 1 {
		t.Fatalf("%s: conditions %v", r.Name, r.Inputs["conditions"])
	}
	v, _ := r.Input("conditions.0.conditionAbsent.filter")
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s: no absence filter", r.Name)
	}
	return s
}

// userMetricRE finds the log-based metrics a Monitoring filter reads.
var userMetricRE = regexp.MustCompile(`metric\.type\s*=\s*"` + regexp.QuoteMeta(monitoring.UserMetricPrefix) + `([^"]+)"`)

// alertReadsMetricOfItsUpdate lists the alert policy conditions of a plan
// that read a log-based metric the same plan creates, and the metric types
// the plan's conditions read at all.
func alertReadsMetricOfItsUpdate(plan *recorder.Plan) (races, read []string) {
	created := map[string]bool{}
	for _, m := range plan.ByType("gcp:logging/metric:Metric") {
		if n, ok := m.Inputs["name"].(string); ok {
			created[n] = true
		}
	}
	for _, r := range plan.ByType(alertPolicyType) {
		conds, _ := r.Inputs["conditions"].([]any)
		for i := range conds {
			for _, kind := range []string{"conditionThreshold.filter", "conditionThreshold.denominatorFilter", "conditionAbsent.filter"} {
				f, _ := r.Input(fmt.Sprintf("conditions.%d.%s", i, kind))
				s, _ := f.(string)
				for _, m := range userMetricRE.FindAllStringSubmatch(s, -1) {
					read = append(read, m[1])
					if created[m[1]] {
						races = append(races, fmt.Sprintf("%s conditions[%d].%s reads %s%s", r.Name, i, kind, monitoring.UserMetricPrefix, m[1]))
					}
				}
			}
		}
	}
	return races, read
}

// TestNoAlertRacesItsMetric: Cloud Monitoring answers 404 "Cannot find
// metric(s)" for up to 10 minutes after a log-based metric is created, and
// the provider does not retry (hashicorp/terraform-provider-google#11102),
// so an alert policy created in the same update as the log-based metric it
// reads fails a stack's first up. In no stack's plan, test stacks' (a name
// suffix) included, does a condition read a metric the plan creates: failed
// and missed runs are log-match conditions, and the overdue alerts read the
// project's completions metric, which the bootstrap creates.
func TestNoAlertRacesItsMetric(t *testing.T) {
	var read []string
	check := func(t *testing.T, plan *recorder.Plan) {
		races, r := alertReadsMetricOfItsUpdate(plan)
		for _, race := range races {
			t.Errorf("%s, a log-based metric the same update creates", race)
		}
		for _, m := range r {
			if m != monitoring.MetricCronJobCompleted {
				t.Errorf("an alert reads log-based metric %s, which the bootstrap does not create", m)
			}
		}
		read = append(read, r...)
		logMatch := 0
		for _, p := range plan.ByType(alertPolicyType) {
			if _, ok := p.Input("conditions.0.conditionMatchedLog.filter"); ok {
				logMatch++
			}
		}
		if logMatch < 2 {
			t.Errorf("only %d log-match alert policies", logMatch)
		}
	}
	everyStackPlan(t, check)
	t.Run("dev-test-stack", func(t *testing.T) {
		dev := loadStack(t, "dev")
		src := copyConfig(dev.Config)
		src[stacks.SuffixKey] = "t1"
		plan, err := record(t, dev, src, false)
		if err != nil {
			t.Fatal(err)
		}
		check(t, plan)
	})
	// The check saw the overdue alerts' reads (dev's CronJob has one).
	if len(read) == 0 {
		t.Error("no alert read a log-based metric in any plan: the check checked nothing")
	}
}
