package fakegoogle

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// newAccount creates a service account of project through c.
func newAccount(t *testing.T, c *http.Client, p, id string) map[string]any {
	t.Helper()
	return must(t, "create service account "+id, do(t, c, http.MethodPost, "iam.googleapis.com", "/v1/projects/"+p+"/serviceAccounts",
		map[string]any{"accountId": id, "serviceAccount": map[string]any{"displayName": id}}), http.StatusOK).obj
}

// runsAs are the requests that need actAs on account, as pulumi-gcp sends
// them (suffix keeps names apart between rounds).
func runsAs(account, suffix string) []creation {
	loc := "/projects/" + project + "/locations/asia-northeast1"
	return []creation{
		{"Cloud Run v2 service", http.MethodPost, "run.googleapis.com", "/v2" + loc + "/services?serviceId=worker" + suffix,
			map[string]any{"template": map[string]any{"serviceAccount": account,
				"containers": []any{map[string]any{"image": "us-docker.pkg.dev/cloudrun/container/hello"}}}}},
		{"push subscription with an OIDC token", http.MethodPut, "pubsub.googleapis.com", "/v1/projects/" + project + "/subscriptions/push" + suffix,
			map[string]any{"topic": "projects/" + project + "/topics/work",
				"pushConfig": map[string]any{"pushEndpoint": "https://worker.a.run.app/", "oidcToken": map[string]any{"serviceAccountEmail": account}}}},
		{"Autopilot cluster", http.MethodPost, "container.googleapis.com", "/v1beta1" + loc + "/clusters",
			map[string]any{"cluster": map[string]any{"name": "asyncjobs" + suffix, "autopilot": map[string]any{"enabled": true},
				"autoscaling": map[string]any{"autoprovisioningNodePoolDefaults": map[string]any{"serviceAccount": account}}}}},
		{"Standard cluster", http.MethodPost, "container.googleapis.com", "/v1" + loc + "/clusters",
			map[string]any{"cluster": map[string]any{"name": "standard" + suffix, "nodeConfig": map[string]any{"serviceAccount": account}}}},
	}
}

// canActAs asks testIamPermissions, as internal/program/actas does.
func canActAs(t *testing.T, c *http.Client, account string) (bool, answer) {
	t.Helper()
	a := do(t, c, http.MethodPost, "iam.googleapis.com", "/v1/projects/-/serviceAccounts/"+account+":testIamPermissions",
		map[string]any{"permissions": []any{"iam.serviceAccounts.actAs", "iam.serviceAccounts.get"}})
	perms, _ := a.obj["permissions"].([]any)
	return slices.Contains(perms, any("iam.serviceAccounts.actAs")), a
}

// TestActAs: what runs as a service account is refused with Google's 403
// until the caller's serviceAccountUser grant on it (or a basic role on
// its project) is Propagation old; testIamPermissions says the same.
func TestActAs(t *testing.T) {
	const propagation = 700 * time.Millisecond
	g := start(t, Options{Propagation: propagation})
	seed := g.Client(admin)
	c := g.Client(deployer)
	must(t, "topic", do(t, seed, http.MethodPut, "pubsub.googleapis.com", "/v1/projects/"+project+"/topics/work", map[string]any{}), http.StatusOK)
	sa := newAccount(t, seed, project, "worker-run")
	account, _ := sa["email"].(string)
	other, _ := newAccount(t, seed, project, "worker-other")["email"].(string)

	deniedAll := func(round string) {
		t.Helper()
		for _, tc := range runsAs(account, round) {
			a := do(t, c, tc.method, tc.host, tc.path, tc.body)
			wantError(t, round+": "+tc.name, a, http.StatusForbidden, "PERMISSION_DENIED",
				fmt.Sprintf("Permission 'iam.serviceaccounts.actAs' denied on service account %s (or it may not exist).", account))
			if r := lastRule(t, g, tc.method, pathOnly(tc.path)); r != "actas" {
				t.Errorf("%s: %s answered by rule %q, want actas", round, tc.name, r)
			}
		}
		if ok, a := canActAs(t, c, account); ok || a.status != http.StatusOK {
			t.Errorf("%s: testIamPermissions: %d %s, want 200 without actAs", round, a.status, a.raw)
		} else if perms, _ := a.obj["permissions"].([]any); len(perms) != 1 {
			t.Errorf("%s: testIamPermissions granted %v, want the other permission asked about", round, perms)
		}
	}

	deniedAll("-nogrant")
	// The grant the stack makes: serviceAccountUser on the account itself.
	grant(t, seed, "iam.googleapis.com", "/v1/projects/"+project+"/serviceAccounts/"+account, "roles/iam.serviceAccountUser", deployer)
	granted := time.Now()
	deniedAll("-propagating")
	// Someone else's grant, or a grant on another account, is no help.
	if ok, _ := canActAs(t, g.Client(admin), account); ok {
		t.Error("the admin may act as the account without any grant")
	}
	if ok, _ := canActAs(t, c, other); ok {
		t.Error("the grant on one account lets the deployer act as another")
	}

	time.Sleep(time.Until(granted.Add(propagation)))
	for _, tc := range runsAs(account, "-propagated") {
		must(t, "after propagation: "+tc.name, do(t, c, tc.method, tc.host, tc.path, tc.body), http.StatusOK)
	}
	if ok, a := canActAs(t, c, account); !ok {
		t.Errorf("testIamPermissions after propagation: %s", a.raw)
	}

	// A basic role on the project holds actAs on all its accounts.
	grant(t, seed, "cloudresourcemanager.googleapis.com", "/v1/projects/"+project, "roles/editor", deployer)
	if ok, _ := canActAs(t, c, other); ok {
		t.Error("a project-level grant took effect at once")
	}
	if !eventually(t, 3*propagation, func() bool { ok, _ := canActAs(t, c, other); return ok }) {
		t.Error("a project-level roles/editor grant never let the deployer act as the project's accounts")
	}

	// A missing account is a 404 to testIamPermissions.
	_, a := canActAs(t, c, "nobody@"+project+".iam.gserviceaccount.com")
	wantError(t, "testIamPermissions on a missing account", a, http.StatusNotFound, "NOT_FOUND", "does not exist")

	t.Run("the mock alone", func(t *testing.T) {
		fresh, _ := newAccount(t, seed, project, "worker-fresh")["email"].(string)
		a := direct(t, g, http.MethodPost, "iam.googleapis.com", "/v1/projects/-/serviceAccounts/"+fresh+":testIamPermissions",
			map[string]any{"permissions": []any{"iam.serviceAccounts.actAs"}})
		if perms, _ := a.obj["permissions"].([]any); len(perms) != 1 {
			t.Errorf("the mock's testIamPermissions: %v", a.obj)
		}
		tc := runsAs(fresh, "-mock")[0]
		must(t, "the mock creates a Cloud Run service running as an account nobody may act as", direct(t, g, tc.method, tc.host, tc.path, tc.body), http.StatusOK)
	})
}

// pathOnly drops a query.
func pathOnly(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			return p[:i]
		}
	}
	return p
}
