package fakegoogle

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// metricClock remembers when each log-based metric was created through
// the layer. A metric it has no time for predates the layer (or was
// backdated): old.
type metricClock struct {
	mu      sync.Mutex
	created map[string]time.Time // project/metric
}

func newMetricClock() *metricClock { return &metricClock{created: map[string]time.Time{}} }

func (c *metricClock) set(project, metric string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.created[project+"/"+metric] = t
}

func (c *metricClock) forget(project, metric string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.created, project+"/"+metric)
}

// backdate makes a metric old.
func (c *metricClock) backdate(project, metric string) { c.forget(project, metric) }

// age is how long ago the metric was created (very long when unknown).
func (c *metricClock) age(project, metric string, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.created[project+"/"+metric]
	if !ok {
		return 1<<63 - 1
	}
	return now.Sub(t)
}

// metricDelay: Cloud Monitoring learns of a new log-based metric only after
// a while. Creating or updating an alert policy whose condition reads
// metric.type="logging.googleapis.com/user/NAME" before then answers 404
// NOT_FOUND "Cannot find metric(s) that match type = "logging.googleapis.com/user/NAME".
// If a metric was created recently, it could take up to 10 minutes to
// become available. Please try again soon." (Google's text, quoted in
// https://github.com/hashicorp/terraform-provider-google/issues/11102,
// which also shows the provider does not retry it; log-based metrics:
// https://cloud.google.com/logging/docs/logs-based-metrics). The mock
// accepts any filter.
//
// Here a metric is known once it exists in the mock and was created (as
// the layer saw it) at least MetricDelay ago, in the policy's project or
// in a project the filter names with resource.label(s).project_id
// (metrics scopes are not modelled).
type metricDelay struct {
	m     *mock
	clock *metricClock
	delay time.Duration
}

func (metricDelay) name() string { return "metric-delay" }

const userMetricPrefix = "logging.googleapis.com/user/"

var (
	metricCreatePath = regexp.MustCompile(`^/v2/projects/([^/]+)/metrics$`)
	metricPath       = regexp.MustCompile(`^/v2/projects/([^/]+)/metrics/(.+)$`)
	policiesPath     = regexp.MustCompile(`^/v3/projects/([^/]+)/alertPolicies$`)
	policyPath       = regexp.MustCompile(`^/v3/projects/([^/]+)/alertPolicies/[^/]+$`)
	// userMetricType finds the log-based metrics a Monitoring filter reads.
	userMetricType = regexp.MustCompile(`metric\.type\s*=\s*"` + regexp.QuoteMeta(userMetricPrefix) + `([^"]+)"`)
	// filterProject finds the projects a Monitoring filter names.
	filterProject = regexp.MustCompile(`resource\.labels?\.project_id\s*=\s*"([^"]+)"`)
)

// conditionFilters are the fields of a condition that hold metric filters.
var conditionFilters = []string{"conditionThreshold.filter", "conditionThreshold.denominatorFilter", "conditionAbsent.filter"}

func (r metricDelay) handle(x *exchange, next func() *reply) *reply {
	switch x.host {
	case "logging.googleapis.com":
		return r.observe(x, next)
	case "monitoring.googleapis.com":
	default:
		return next()
	}
	var project string
	switch {
	case x.method == http.MethodPost && policiesPath.MatchString(x.path):
		project = policiesPath.FindStringSubmatch(x.path)[1]
	case x.method == http.MethodPatch && policyPath.MatchString(x.path):
		if !maskNames(x.query.Get("updateMask"), []string{"conditions"}) {
			return next()
		}
		project = policyPath.FindStringSubmatch(x.path)[1]
	default:
		return next()
	}
	now := time.Now()
	conds, _ := x.object()["conditions"].([]any)
	for _, cond := range conds {
		for _, field := range conditionFilters {
			for _, filter := range stringsAt(cond, field) {
				projects := []string{project}
				for _, m := range filterProject.FindAllStringSubmatch(filter, -1) {
					projects = append(projects, m[1])
				}
				for _, m := range userMetricType.FindAllStringSubmatch(filter, -1) {
					known, err := r.known(m[1], projects, now)
					if err != nil {
						return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
					}
					if !known {
						return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", fmt.Sprintf(
							"Cannot find metric(s) that match type = %q. "+
								"If a metric was created recently, it could take up to 10 minutes to become available. Please try again soon.",
							userMetricPrefix+m[1]))
					}
				}
			}
		}
	}
	return next()
}

// known reports whether Cloud Monitoring knows the metric in one of the
// projects.
func (r metricDelay) known(metric string, projects []string, now time.Time) (bool, error) {
	for _, p := range projects {
		ok, err := r.m.exists("logging.googleapis.com", "/v2/projects/"+url.PathEscape(p)+"/metrics/"+url.PathEscape(metric))
		if err != nil {
			return false, err
		}
		if ok && r.clock.age(p, metric, now) >= r.delay {
			return true, nil
		}
	}
	return false, nil
}

// observe timestamps the log-based metrics created through the layer and
// forgets deleted ones.
func (r metricDelay) observe(x *exchange, next func() *reply) *reply {
	switch {
	case x.method == http.MethodPost && metricCreatePath.MatchString(x.path):
		rep := next()
		if rep.ok() {
			name, _ := x.object()["name"].(string)
			r.clock.set(metricCreatePath.FindStringSubmatch(x.path)[1], name, time.Now())
		}
		return rep
	case x.method == http.MethodPut && metricPath.MatchString(x.path):
		// UpdateLogMetric creates the metric when it does not exist.
		m := metricPath.FindStringSubmatch(x.path)
		existed, err := r.m.exists(x.host, x.escapedPath())
		if err != nil {
			return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
		}
		rep := next()
		if rep.ok() && !existed {
			r.clock.set(m[1], m[2], time.Now())
		}
		return rep
	case x.method == http.MethodDelete && metricPath.MatchString(x.path):
		rep := next()
		if rep.ok() {
			m := metricPath.FindStringSubmatch(x.path)
			r.clock.forget(m[1], m[2])
		}
		return rep
	}
	return next()
}
