package fakegoogle

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// alertPolicy reads log-based metric metric (in another project when
// filterProject is set), as components/monitoring writes its conditions.
func alertPolicy(metric, filterProject string) map[string]any {
	filter := fmt.Sprintf(`metric.type="logging.googleapis.com/user/%s" AND resource.type="k8s_cluster"`, metric)
	if filterProject != "" {
		filter += fmt.Sprintf(` AND resource.label.project_id="%s"`, filterProject)
	}
	return map[string]any{
		"displayName": "overdue " + metric,
		"combiner":    "OR",
		"conditions": []any{map[string]any{
			"displayName":     "absent",
			"conditionAbsent": map[string]any{"filter": filter, "duration": "3600s"},
		}},
	}
}

// TestMetricDelay: an alert policy on a log-based metric is refused with
// Cloud Monitoring's 404 until the metric is MetricDelay old; Backdate
// makes a metric old at once.
func TestMetricDelay(t *testing.T) {
	const delay = 600 * time.Millisecond
	g := start(t, Options{MetricDelay: delay})
	c := g.Client(deployer)
	policies := "/v3/projects/" + project + "/alertPolicies"
	newMetric := func(p, name string) {
		t.Helper()
		must(t, "create metric "+name, do(t, c, http.MethodPost, "logging.googleapis.com", "/v2/projects/"+p+"/metrics",
			map[string]any{"name": name, "filter": `resource.type="k8s_cluster"`}), http.StatusOK)
	}
	refused := func(what string, a answer, metric string) {
		t.Helper()
		wantError(t, what, a, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf(
			`Cannot find metric(s) that match type = "logging.googleapis.com/user/%s". `+
				`If a metric was created recently, it could take up to 10 minutes to become available. Please try again soon.`, metric))
	}

	newMetric(project, "fresh")
	newMetric(project, "bootstrap")
	g.Backdate(project, "bootstrap")
	newMetric(project2, "elsewhere")
	g.Backdate(project2, "elsewhere")
	created := time.Now()

	for _, tc := range []struct {
		name, metric, filterProject string
		want                        int
	}{
		{"a metric created just now", "fresh", "", http.StatusNotFound},
		{"a metric that does not exist", "missing", "", http.StatusNotFound},
		{"a backdated metric", "bootstrap", "", http.StatusOK},
		{"a backdated metric of the project the filter names", "elsewhere", project2, http.StatusOK},
		{"a metric of another project the filter does not name", "elsewhere", "", http.StatusNotFound},
	} {
		a := do(t, c, http.MethodPost, "monitoring.googleapis.com", policies, alertPolicy(tc.metric, tc.filterProject))
		if tc.want == http.StatusNotFound {
			refused(tc.name, a, tc.metric)
			if r := lastRule(t, g, http.MethodPost, policies); r != "metric-delay" {
				t.Errorf("%s: answered by rule %q, want metric-delay", tc.name, r)
			}
			continue
		}
		must(t, tc.name, a, tc.want)
	}

	// An update is held to the same rule when it changes the conditions.
	policy := must(t, "policy on an old metric", do(t, c, http.MethodPost, "monitoring.googleapis.com", policies, alertPolicy("bootstrap", "")), http.StatusOK).obj
	name, _ := policy["name"].(string)
	changed := alertPolicy("fresh", "")
	refused("patching the conditions to read a new metric",
		do(t, c, http.MethodPatch, "monitoring.googleapis.com", "/v3/"+name+"?updateMask=conditions", changed), "fresh")
	must(t, "patching only the display name", do(t, c, http.MethodPatch, "monitoring.googleapis.com", "/v3/"+name+"?updateMask=displayName",
		map[string]any{"displayName": "renamed"}), http.StatusOK)

	time.Sleep(time.Until(created.Add(delay)))
	must(t, "the same policy once the metric is old enough", do(t, c, http.MethodPost, "monitoring.googleapis.com", policies, alertPolicy("fresh", "")),
		http.StatusOK)

	t.Run("the mock alone", func(t *testing.T) {
		a := direct(t, g, http.MethodPost, "monitoring.googleapis.com", policies, alertPolicy("never-created", ""))
		must(t, "the mock takes a policy on a metric that does not exist", a, http.StatusOK)
	})
}
