package kubeenv_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/kubeenv"
)

const testNamespace = "kubeenv-test"

func cronJob(name string, jobSpec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "batch/v1",
		"kind":       "CronJob",
		"metadata":   map[string]any{"name": name, "namespace": testNamespace},
		"spec": map[string]any{
			"schedule":          "*/5 * * * *",
			"concurrencyPolicy": "Forbid",
			"jobTemplate":       map[string]any{"spec": jobSpec},
		},
	}
}

func indexedJobSpec() map[string]any {
	return map[string]any{
		"completionMode": "Indexed",
		"completions":    3,
		"parallelism":    3,
		"template": map[string]any{
			"spec": map[string]any{
				"restartPolicy": "OnFailure",
				"containers": []any{map[string]any{
					"name":  "worker",
					"image": "example.invalid/worker:1",
				}},
			},
		},
	}
}

func TestAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	ctx := t.Context()

	ns := map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata":   map[string]any{"name": testNamespace},
	}
	if err := env.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	if err := env.Create(ctx, ns); !kubeenv.IsReason(err, "AlreadyExists") {
		t.Errorf("creating the namespace twice: got %v, want AlreadyExists", err)
	}

	t.Run("ValidIndexedCronJob", func(t *testing.T) {
		if err := env.DryRunApply(ctx, cronJob("valid", indexedJobSpec())); err != nil {
			t.Fatalf("dry-run apply of a valid CronJob: %v", err)
		}
		// A dry run stores nothing.
		_, err := env.Get(ctx, cronJob("valid", nil))
		if !kubeenv.IsReason(err, "NotFound") {
			t.Errorf("after a dry run, get: got %v, want NotFound", err)
		}
	})

	t.Run("IndexedCronJobWithoutCompletions", func(t *testing.T) {
		spec := indexedJobSpec()
		delete(spec, "completions")
		err := env.DryRunApply(ctx, cronJob("no-completions", spec))
		if err == nil {
			t.Fatal("dry-run apply of an Indexed CronJob without completions succeeded; want a validation error")
		}
		if !strings.Contains(err.Error(), "spec.jobTemplate.spec.completions") {
			t.Errorf("error does not mention spec.jobTemplate.spec.completions: %v", err)
		}
		if !kubeenv.IsReason(err, "Invalid") {
			t.Errorf("reason: got %v, want Invalid", err)
		}
		t.Logf("rejected as expected: %v", err)
	})

	t.Run("UnknownFieldRejected", func(t *testing.T) {
		spec := indexedJobSpec()
		spec["completionsPerWorker"] = 2 // no such field
		err := env.DryRunApply(ctx, cronJob("unknown-field", spec))
		if err == nil {
			t.Fatal("dry-run apply with an unknown field succeeded; want strict validation to reject it")
		}
		if !strings.Contains(err.Error(), "completionsPerWorker") {
			t.Errorf("error does not name the unknown field: %v", err)
		}
		t.Logf("rejected as expected: %v", err)
	})

	t.Run("OtherKinds", func(t *testing.T) {
		labels := map[string]any{"app": "worker"}
		meta := func(name string) map[string]any {
			return map[string]any{"name": name, "namespace": testNamespace, "labels": labels}
		}
		objs := []struct {
			obj  map[string]any
			path string
		}{
			{map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "other"}},
				"/api/v1/namespaces/other"},
			{map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("worker")},
				"/api/v1/namespaces/kubeenv-test/serviceaccounts/worker"},
			{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("worker"),
				"data": map[string]any{"key": "value"}},
				"/api/v1/namespaces/kubeenv-test/configmaps/worker"},
			{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("worker"),
				"spec": map[string]any{
					"replicas": 1,
					"selector": map[string]any{"matchLabels": labels},
					"template": map[string]any{
						"metadata": map[string]any{"labels": labels},
						"spec": map[string]any{
							"serviceAccountName": "worker",
							"containers": []any{map[string]any{
								"name": "worker", "image": "example.invalid/worker:1",
								"resources": map[string]any{"requests": map[string]any{"cpu": "100m"}},
							}},
						},
					},
				}},
				"/apis/apps/v1/namespaces/kubeenv-test/deployments/worker"},
			{map[string]any{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta("worker"),
				"spec": map[string]any{
					"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
					"minReplicas":    1,
					"maxReplicas":    5,
					"metrics": []any{map[string]any{
						"type": "Resource",
						"resource": map[string]any{
							"name":   "cpu",
							"target": map[string]any{"type": "Utilization", "averageUtilization": 70},
						},
					}},
				}},
				"/apis/autoscaling/v2/namespaces/kubeenv-test/horizontalpodautoscalers/worker"},
			{map[string]any{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("worker"),
				"spec": map[string]any{"maxUnavailable": 1, "selector": map[string]any{"matchLabels": labels}}},
				"/apis/policy/v1/namespaces/kubeenv-test/poddisruptionbudgets/worker"},
			{cronJob("worker", indexedJobSpec()),
				"/apis/batch/v1/namespaces/kubeenv-test/cronjobs/worker"},
		}
		for _, o := range objs {
			kind := o.obj["kind"].(string)
			path, err := env.ResourcePath(ctx, o.obj)
			if err != nil {
				t.Errorf("%s: ResourcePath: %v", kind, err)
			} else if path != o.path {
				t.Errorf("%s: ResourcePath = %q, want %q", kind, path, o.path)
			}
			if err := env.DryRunApply(ctx, o.obj); err != nil {
				t.Errorf("%s: dry-run apply: %v", kind, err)
			}
		}
	})

	t.Run("InvalidDeploymentSelector", func(t *testing.T) {
		err := env.DryRunApply(ctx, map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "bad", "namespace": testNamespace},
			"spec": map[string]any{
				"selector": map[string]any{"matchLabels": map[string]any{"app": "a"}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "b"}},
					"spec": map[string]any{"containers": []any{map[string]any{
						"name": "c", "image": "example.invalid/c:1",
					}}},
				},
			},
		})
		if err == nil || !strings.Contains(err.Error(), "selector") {
			t.Errorf("want a selector mismatch error, got %v", err)
		}
	})

	t.Run("UnknownKind", func(t *testing.T) {
		err := env.DryRunApply(ctx, map[string]any{
			"apiVersion": "batch/v1", "kind": "CronTab",
			"metadata": map[string]any{"name": "x", "namespace": testNamespace},
		})
		if err == nil || !strings.Contains(err.Error(), "CronTab") {
			t.Errorf("want an unknown-kind error, got %v", err)
		}
	})

	t.Run("TokenRequired", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/api/v1/namespaces", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Errorf("listing namespaces anonymously: status %d, want 401 or 403", resp.StatusCode)
		}
	})

	t.Run("Version", func(t *testing.T) {
		// The Kubernetes provider reads /version: below 1.24 its
		// ServiceAccount await (untilCoreV1ServiceAccountInitialized) waits
		// for a token Secret that only kube-controller-manager would add. An
		// unstamped build answers major "" and would be taken as old.
		data, err := env.Do(ctx, http.MethodGet, "/version", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Major string `json:"major"`
			Minor string `json:"minor"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		minor, err := strconv.Atoi(strings.TrimSuffix(v.Minor, "+"))
		if v.Major != "1" || err != nil || minor < 24 {
			t.Errorf("/version: major %q minor %q, want 1 and at least 24", v.Major, v.Minor)
		}
	})

	t.Run("Kubeconfig", func(t *testing.T) {
		data, err := os.ReadFile(env.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), env.URL) || !strings.Contains(string(data), env.Token) {
			t.Errorf("kubeconfig does not name the server and token:\n%s", data)
		}
	})
}

func TestStatusError(t *testing.T) {
	err := error(&kubeenv.StatusError{Method: "PATCH", Path: "/x", Code: 422, Reason: "Invalid", Message: "spec.a: Required value"})
	if !kubeenv.IsReason(err, "Invalid") || kubeenv.IsReason(err, "NotFound") {
		t.Errorf("IsReason misreads %v", err)
	}
	if !strings.Contains(err.Error(), "spec.a: Required value") {
		t.Errorf("Error() lost the message: %v", err)
	}
	if kubeenv.IsReason(context.Canceled, "Invalid") {
		t.Error("IsReason matched a non-status error")
	}
}
