package fakegoogle

import (
	"fmt"
	"net/http"
	"testing"
)

// TestQueueNameReserved: after a queue is deleted its name cannot be
// created again (Google: for 7 days); another name can.
func TestQueueNameReserved(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	parent := "/v2/projects/" + project + "/locations/asia-northeast1/queues"
	queue := func(name string) map[string]any {
		return map[string]any{
			"name":       "projects/" + project + "/locations/asia-northeast1/queues/" + name,
			"rateLimits": map[string]any{"maxDispatchesPerSecond": 10},
		}
	}
	must(t, "create", do(t, c, http.MethodPost, "cloudtasks.googleapis.com", parent, queue("orders")), http.StatusOK)
	must(t, "delete", do(t, c, http.MethodDelete, "cloudtasks.googleapis.com", parent+"/orders", nil), http.StatusOK)
	for _, tc := range []struct {
		name string
		want int
	}{
		{"orders", http.StatusBadRequest},
		{"orders-v2", http.StatusOK},
	} {
		a := do(t, c, http.MethodPost, "cloudtasks.googleapis.com", parent, queue(tc.name))
		if tc.want == http.StatusOK {
			must(t, "create "+tc.name, a, http.StatusOK)
			continue
		}
		wantError(t, "re-create "+tc.name, a, http.StatusBadRequest, "FAILED_PRECONDITION",
			"The queue cannot be created because a queue with this name existed too recently.")
		if got := lastRule(t, g, http.MethodPost, parent); got != "queue-name-reserved" {
			t.Errorf("answered by rule %q, want queue-name-reserved", got)
		}
	}
	// The deleted queue reads as missing, as it does in Google.
	must(t, "get the deleted queue", do(t, c, http.MethodGet, "cloudtasks.googleapis.com", parent+"/orders", nil), http.StatusNotFound)

	t.Run("the mock alone", func(t *testing.T) {
		must(t, "create", direct(t, g, http.MethodPost, "cloudtasks.googleapis.com", parent, queue("jobs")), http.StatusOK)
		must(t, "delete", direct(t, g, http.MethodDelete, "cloudtasks.googleapis.com", parent+"/jobs", nil), http.StatusOK)
		must(t, "the mock re-creates a deleted queue's name at once", direct(t, g, http.MethodPost, "cloudtasks.googleapis.com", parent, queue("jobs")),
			http.StatusOK)
	})
}

// TestQueueUpdateMask: a patch whose mask names the retry configuration as
// a whole updates its fields, as Google does with the provider's masks; the
// mock alone refuses such a mask.
func TestQueueUpdateMask(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	parent := "/v2/projects/" + project + "/locations/asia-northeast1/queues"
	queue := map[string]any{
		"name":        "projects/" + project + "/locations/asia-northeast1/queues/orders",
		"retryConfig": map[string]any{"maxAttempts": 10, "maxDoublings": 3, "minBackoff": "10s", "maxBackoff": "3600s"},
	}
	must(t, "create", do(t, c, http.MethodPost, "cloudtasks.googleapis.com", parent, queue), http.StatusOK)
	patch := map[string]any{
		"name":        queue["name"],
		"retryConfig": map[string]any{"maxAttempts": 10, "maxDoublings": 4, "minBackoff": "10s", "maxBackoff": "3600s"},
	}
	a := must(t, "patch", do(t, c, http.MethodPatch, "cloudtasks.googleapis.com", parent+"/orders?updateMask=retryConfig", patch), http.StatusOK)
	if got := lastRule(t, g, http.MethodPatch, parent+"/orders"); got != "queue-update-mask" {
		t.Errorf("answered by rule %q, want queue-update-mask", got)
	}
	got := must(t, "get", do(t, c, http.MethodGet, "cloudtasks.googleapis.com", parent+"/orders", nil), http.StatusOK)
	for what, obj := range map[string]map[string]any{"patch answer": a.obj, "queue": got.obj} {
		rc, _ := obj["retryConfig"].(map[string]any)
		if fmt.Sprint(rc["maxDoublings"]) != "4" || fmt.Sprint(rc["maxAttempts"]) != "10" {
			t.Errorf("%s: retryConfig %v, want maxDoublings 4 and maxAttempts 10", what, rc)
		}
	}

	t.Run("the mock alone", func(t *testing.T) {
		a := direct(t, g, http.MethodPatch, "cloudtasks.googleapis.com", parent+"/orders?updateMask=retryConfig", patch)
		if a.status != http.StatusBadRequest {
			t.Errorf("the mock took a message path: %d %v", a.status, a.obj)
		}
	})
}
