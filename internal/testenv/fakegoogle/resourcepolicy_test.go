package fakegoogle

import (
	"net/http"
	"testing"
	"time"
)

// TestResourcePolicy: a subscription deleted and created again under its
// name starts with no grants; the mock alone hands it the old ones.
func TestResourcePolicy(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	topic := "/v1/projects/" + project + "/topics/jobs"
	must(t, "topic", do(t, c, http.MethodPut, "pubsub.googleapis.com", topic, map[string]any{}), http.StatusOK)
	for _, tc := range []struct {
		name   string
		send   func(method, path string, body any) answer
		grants int
	}{
		{"through the layer", func(method, path string, body any) answer {
			return do(t, c, method, "pubsub.googleapis.com", path, body)
		}, 0},
		{"the mock alone", func(method, path string, body any) answer {
			return direct(t, g, method, "pubsub.googleapis.com", path, body)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := "/v1/projects/" + project + "/subscriptions/" + map[bool]string{true: "via-layer", false: "via-mock"}[tc.grants == 0]
			body := map[string]any{"topic": "projects/" + project + "/topics/jobs"}
			must(t, "create", tc.send(http.MethodPut, sub, body), http.StatusOK)
			// The mock stores a new subscription a moment after it answers.
			for deadline := time.Now().Add(10 * time.Second); tc.send(http.MethodGet, sub, nil).status != http.StatusOK; {
				if time.Now().After(deadline) {
					t.Fatalf("the subscription %s never appeared", sub)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if tc.grants == 0 {
				grant(t, c, "pubsub.googleapis.com", sub, "roles/pubsub.subscriber", "serviceAccount:reader@"+project+".iam.gserviceaccount.com")
			} else {
				policy := map[string]any{"bindings": []any{map[string]any{"role": "roles/pubsub.subscriber",
					"members": []any{"serviceAccount:reader@" + project + ".iam.gserviceaccount.com"}}}}
				must(t, "set", tc.send(http.MethodPost, sub+":setIamPolicy", map[string]any{"policy": policy}), http.StatusOK)
			}
			must(t, "delete", tc.send(http.MethodDelete, sub, nil), http.StatusOK)
			if tc.grants == 0 {
				if r := lastRule(t, g, http.MethodDelete, sub); r != "resource-policy" {
					t.Errorf("the delete is recorded with rule %q, want resource-policy", r)
				}
			}
			must(t, "create again", tc.send(http.MethodPut, sub, body), http.StatusOK)
			got := bindingsOf(must(t, "getIamPolicy", tc.send(http.MethodPost, sub+":getIamPolicy", map[string]any{}), http.StatusOK).obj)
			if len(got) != tc.grants {
				t.Errorf("the new subscription has grants %v, want %d", got, tc.grants)
			}
		})
	}
}
