package fakegoogle

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sync"
)

// alreadyExists: creating an object whose name is taken answers 409
// ALREADY_EXISTS (https://cloud.google.com/apis/design/errors#handling_errors),
// which pulumi-gcp reports at once. The mock gets three of the kinds the
// program and the bootstrap create wrong:
//
//   - a Pub/Sub topic: 500 (retried by the provider until its timeout);
//     Google: 409 "Resource already exists in the project (resource=NAME)."
//     (https://cloud.google.com/pubsub/docs/reference/error-codes);
//   - a Pub/Sub subscription: 200, the existing one silently returned;
//     Google: the same 409 as a topic. The mock stores a new subscription
//     only 2 seconds after answering (Config Connector saw Google's GET
//     lag behind a create; pulumi-gcp polls until it sees it), so the
//     layer also remembers the names it saw created;
//   - a log-based metric: 500; Google: 409 ALREADY_EXISTS
//     (https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.metrics/create;
//     Google's wording is not documented: the message names the metric).
//
// The others it answers with a 409 of its own wording, which the provider
// treats the same: a Cloud Run v2 service, a Cloud Tasks queue, a service
// account, a GKE cluster, a storage bucket (TestMockConflicts). Alert
// policies, notification channels and dashboards are named by the server.
// Cloud KMS and workload identity pools are not served by the mock: the
// layer serves them, with their own 409s (kms.go, pools.go).
type alreadyExists struct {
	m  *mock
	mu sync.Mutex // a check and the create it guards are one step
	// created are the Pub/Sub names created through the layer and not
	// deleted since: host + path.
	created map[string]bool
}

func (*alreadyExists) name() string { return "already-exists" }

var (
	topicPath        = regexp.MustCompile(`^/v1/projects/([^/]+)/topics/([^/:]+)$`)
	subscriptionPath = regexp.MustCompile(`^/v1/projects/([^/]+)/subscriptions/([^/:]+)$`)
	metricsPath      = regexp.MustCompile(`^/v2/projects/([^/]+)/metrics$`)
)

func (r *alreadyExists) handle(x *exchange, next func() *reply) *reply {
	var existing, message string
	pubsub := x.host == "pubsub.googleapis.com" && (topicPath.MatchString(x.path) || subscriptionPath.MatchString(x.path))
	if pubsub && x.method == http.MethodDelete {
		rep := next()
		if rep.ok() {
			r.mu.Lock()
			delete(r.created, x.path)
			r.mu.Unlock()
		}
		return rep
	}
	switch {
	case x.host == "pubsub.googleapis.com" && x.method == http.MethodPut &&
		(topicPath.MatchString(x.path) || subscriptionPath.MatchString(x.path)):
		existing = x.escapedPath()
		message = fmt.Sprintf("Resource already exists in the project (resource=%s).", lastSegment(x.path))
	case x.host == "logging.googleapis.com" && x.method == http.MethodPost && metricsPath.MatchString(x.path):
		name, _ := x.object()["name"].(string)
		if name == "" {
			return next()
		}
		existing = escapePath(x.path) + "/" + url.PathEscape(name)
		message = fmt.Sprintf("Metric %s already exists.", name)
	default:
		return next()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ok, err := r.m.exists(x.host, existing)
	if err != nil {
		return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
	}
	if ok || (pubsub && r.created[x.path]) {
		return googleError(r.name(), http.StatusConflict, "ALREADY_EXISTS", message)
	}
	rep := next()
	if pubsub && rep.ok() {
		r.created[x.path] = true
	}
	return rep
}

// lastSegment is the part of a path after its last "/".
func lastSegment(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
