package fakegoogle

import (
	"net/http"
	"testing"
)

// creation is one create request as pulumi-gcp 7.38.0 sends it.
type creation struct {
	name, method, host, path string
	body                     any
}

// TestAlreadyExists: a second create of a topic, a subscription or a
// log-based metric of the same name answers Google's 409 ALREADY_EXISTS.
func TestAlreadyExists(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	topic := "/v1/projects/" + project + "/topics/work"
	must(t, "create the topic subscriptions read", do(t, c, http.MethodPut, "pubsub.googleapis.com", topic, map[string]any{}), http.StatusOK)
	for _, tc := range []struct {
		creation
		message string
	}{
		{creation{"Pub/Sub topic", http.MethodPut, "pubsub.googleapis.com", "/v1/projects/" + project + "/topics/orders",
			map[string]any{"labels": map[string]any{"stack": "dev"}}},
			"Resource already exists in the project (resource=orders)."},
		{creation{"Pub/Sub subscription", http.MethodPut, "pubsub.googleapis.com", "/v1/projects/" + project + "/subscriptions/orders-worker",
			map[string]any{"topic": "projects/" + project + "/topics/work", "ackDeadlineSeconds": 60}},
			"Resource already exists in the project (resource=orders-worker)."},
		{creation{"log-based metric", http.MethodPost, "logging.googleapis.com", "/v2/projects/" + project + "/metrics",
			map[string]any{"name": "asyncjobs-cronjob-completed", "filter": `resource.type="k8s_cluster"`,
				"metricDescriptor": map[string]any{"metricKind": "DELTA", "valueType": "INT64"}}},
			"Metric asyncjobs-cronjob-completed already exists."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "first create", do(t, c, tc.method, tc.host, tc.path, tc.body), http.StatusOK)
			a := do(t, c, tc.method, tc.host, tc.path, tc.body)
			wantError(t, "second create", a, http.StatusConflict, "ALREADY_EXISTS", tc.message)
			if got := lastRule(t, g, tc.method, tc.path); got != "already-exists" {
				t.Errorf("answered by rule %q, want already-exists", got)
			}
		})
	}
}

// TestAlreadyExistsMockAlone: what the mock answers a second create of
// those three kinds: 500 (which the provider retries until its timeout) or
// 200 (the existing subscription, silently).
func TestAlreadyExistsMockAlone(t *testing.T) {
	g := start(t, Options{})
	direct(t, g, http.MethodPut, "pubsub.googleapis.com", "/v1/projects/"+project+"/topics/work", map[string]any{})
	for _, tc := range []struct {
		creation
		want int
	}{
		{creation{"Pub/Sub topic", http.MethodPut, "pubsub.googleapis.com", "/v1/projects/" + project + "/topics/orders", map[string]any{}},
			http.StatusInternalServerError},
		{creation{"Pub/Sub subscription", http.MethodPut, "pubsub.googleapis.com", "/v1/projects/" + project + "/subscriptions/orders-worker",
			map[string]any{"topic": "projects/" + project + "/topics/work"}}, http.StatusOK},
		{creation{"log-based metric", http.MethodPost, "logging.googleapis.com", "/v2/projects/" + project + "/metrics",
			map[string]any{"name": "completed", "filter": "severity>=ERROR"}}, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "first create", direct(t, g, tc.method, tc.host, tc.path, tc.body), http.StatusOK)
			if a := direct(t, g, tc.method, tc.host, tc.path, tc.body); a.status != tc.want {
				t.Errorf("the mock answered a second create with %d %v, not %d as when the rule was written", a.status, a.obj, tc.want)
			}
		})
	}
}

// TestMockConflicts: the kinds the mock itself answers with a 409 (its own
// wording), so the layer leaves them alone.
func TestMockConflicts(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	loc := "/projects/" + project + "/locations/asia-northeast1"
	for _, tc := range []creation{
		{"Cloud Run v2 service", http.MethodPost, "run.googleapis.com", "/v2" + loc + "/services?serviceId=worker",
			map[string]any{"template": map[string]any{"containers": []any{map[string]any{"image": "us-docker.pkg.dev/cloudrun/container/hello"}}}}},
		{"Cloud Tasks queue", http.MethodPost, "cloudtasks.googleapis.com", "/v2" + loc + "/queues",
			map[string]any{"name": "projects/" + project + "/locations/asia-northeast1/queues/orders"}},
		{"service account", http.MethodPost, "iam.googleapis.com", "/v1/projects/" + project + "/serviceAccounts",
			map[string]any{"accountId": "worker-run", "serviceAccount": map[string]any{"displayName": "worker"}}},
		{"GKE cluster", http.MethodPost, "container.googleapis.com", "/v1beta1" + loc + "/clusters",
			map[string]any{"cluster": map[string]any{"name": "asyncjobs", "autopilot": map[string]any{"enabled": true}}}},
		{"storage bucket", http.MethodPost, "storage.googleapis.com", "/storage/v1/b?project=" + project,
			map[string]any{"name": "asyncjobs-state-dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "first create", do(t, c, tc.method, tc.host, tc.path, tc.body), http.StatusOK)
			a := do(t, c, tc.method, tc.host, tc.path, tc.body)
			if a.status != http.StatusConflict {
				t.Errorf("second create: %d %s; the mock answered 409 when the layer was written, and the layer adds no rule for it", a.status, a.raw)
			}
		})
	}
}
