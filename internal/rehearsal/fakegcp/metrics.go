package fakegcp

import (
	"fmt"
	"regexp"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MetricDelayEnv sets how long after a log-based metric is created Cloud
// Monitoring still refuses alert policies that read it (a Go duration, e.g.
// "10m" or "0s"); DefaultMetricDelay when unset.
const MetricDelayEnv = "ASYNCJOBS_FAKEGCP_METRIC_DELAY"

// DefaultMetricDelay is the delay Cloud Monitoring's error message states:
// "it could take up to 10 minutes to become available".
const DefaultMetricDelay = 10 * time.Minute

const (
	metricToken      = "gcp:logging/metric:Metric"
	alertPolicyToken = "gcp:monitoring/alertPolicy:AlertPolicy"
	userMetricPrefix = "logging.googleapis.com/user/"
)

// userMetricRE finds the log-based metric types a Monitoring filter reads.
var userMetricRE = regexp.MustCompile(`metric\.type\s*=\s*"` + regexp.QuoteMeta(userMetricPrefix) + `([^"]+)"`)

// filterProjectRE finds the projects a Monitoring filter names.
var filterProjectRE = regexp.MustCompile(`resource\.labels?\.project_id\s*=\s*"([^"]+)"`)

// conditionFilters are the Monitoring filters of an alert policy's
// conditions that name metric types: condition kind, field.
var conditionFilters = [][2]string{
	{"conditionThreshold", "filter"}, {"conditionThreshold", "denominatorFilter"}, {"conditionAbsent", "filter"},
}

// metricDelay reads MetricDelayEnv.
func (s *Server) metricDelay() (time.Duration, error) {
	v := s.getenv(MetricDelayEnv)
	if v == "" {
		return DefaultMetricDelay, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, status.Errorf(codes.FailedPrecondition,
			"fakegcp: %s=%q is not a duration such as 10m or 0s", MetricDelayEnv, v)
	}
	return d, nil
}

// metricsAvailable refuses an alert policy (created or updated) whose
// conditions read a log-based metric that Cloud Monitoring does not know
// yet: one the store lacks, or one created less than the delay ago. The
// metric may be in the policy's project or in a project its filter names
// (metrics scopes are not modelled: such a project counts as monitored).
// verb is "creating" or "updating", as the provider's error says.
func (s *Server) metricsAvailable(verb string, k *kind, c *call, st *state) error {
	if k.token != alertPolicyToken {
		return nil
	}
	delay, err := s.metricDelay()
	if err != nil {
		return err
	}
	now := s.opts.Now()
	conds, ok := get(c.in, "conditions")
	if !ok || !conds.IsArray() {
		return nil
	}
	for _, cond := range conds.ArrayValue() {
		if cond = unsecret(cond); !cond.IsObject() {
			continue
		}
		for _, path := range conditionFilters {
			filter := str(obj(cond.ObjectValue(), path[0]), path[1])
			if filter == "" {
				continue
			}
			projects := []string{c.project}
			for _, m := range filterProjectRE.FindAllStringSubmatch(filter, -1) {
				projects = append(projects, m[1])
			}
			for _, m := range userMetricRE.FindAllStringSubmatch(filter, -1) {
				if !st.metricKnown(m[1], projects, now, delay) {
					return status.Errorf(codes.NotFound,
						"Error %s AlertPolicy: googleapi: Error 404: Cannot find metric(s) that match type = %q. "+
							"If a metric was created recently, it could take up to 10 minutes to become available. Please try again soon., notFound",
						verb, userMetricPrefix+m[1])
				}
			}
		}
	}
	return nil
}

// metricKnown reports whether a log-based metric of that name exists in one
// of the projects and was created at least delay before now. A metric
// seeded without a creation time predates the test.
func (st *state) metricKnown(name string, projects []string, now time.Time, delay time.Duration) bool {
	for _, p := range projects {
		r := st.Resources[fmt.Sprintf("projects/%s/metrics/%s", p, name)]
		if r != nil && r.Type == metricToken && !r.Created.After(now.Add(-delay)) {
			return true
		}
	}
	return false
}

// SeedMetric adds a log-based metric that no stack created (the
// bootstrap's), created at the given time, as Seed does.
func SeedMetric(dir, project, name string, inputs map[string]any, created time.Time) error {
	in := map[string]any{}
	for k, v := range inputs {
		in[k] = v
	}
	in["project"], in["name"] = project, name
	return Seed(dir, StoredResource{
		Type: metricToken, ID: name, Key: fmt.Sprintf("projects/%s/metrics/%s", project, name), Project: project,
		Inputs: in, Outputs: in, Created: created,
	})
}
