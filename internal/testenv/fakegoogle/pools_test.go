package fakegoogle

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestWorkloadIdentityPools drives pools and providers as pulumi-gcp 7.38.0
// does: create and poll the operation, read, patch with an update mask,
// delete (soft), and re-create (409 while the ID is reserved).
func TestWorkloadIdentityPools(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	const iam = "iam.googleapis.com"
	number := fmtNumber(t, g)
	pools := "/v1/projects/" + project + "/locations/global/workloadIdentityPools"
	pool := pools + "/github"
	providers := pool + "/providers"
	provider := providers + "/github"
	oidcProvider := map[string]any{
		"displayName":        "GitHub Actions",
		"attributeMapping":   map[string]any{"google.subject": "assertion.sub", "attribute.repository_id": "assertion.repository_id"},
		"attributeCondition": "assertion.repository_id == '123'",
		"oidc":               map[string]any{"issuerUri": "https://token.actions.githubusercontent.com"},
	}

	// Create: a done operation, which a GET of its name answers too.
	op := must(t, "create pool", do(t, c, http.MethodPost, iam, pools+"?workloadIdentityPoolId=github",
		map[string]any{"displayName": "GitHub Actions", "description": "CI"}), http.StatusOK).obj
	opName, _ := op["name"].(string)
	if op["done"] != true || !strings.HasPrefix(opName, "projects/"+number+"/locations/global/workloadIdentityPools/github/operations/") {
		t.Fatalf("create answered %v, want a done operation under the pool's name", op)
	}
	polled := must(t, "poll the operation", do(t, c, http.MethodGet, iam, "/v1/"+opName, nil), http.StatusOK).obj
	if polled["done"] != true {
		t.Errorf("the operation polled as %v", polled)
	}
	got := must(t, "get pool", do(t, c, http.MethodGet, iam, pool, nil), http.StatusOK).obj
	want := map[string]any{
		"name":        "projects/" + number + "/locations/global/workloadIdentityPools/github",
		"displayName": "GitHub Actions", "description": "CI", "state": "ACTIVE",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("pool %s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["disabled"]; ok {
		t.Errorf("pool reports disabled=%v; Google leaves false out", got["disabled"])
	}

	// Patch by mask.
	must(t, "patch pool", do(t, c, http.MethodPatch, iam, pool+"?updateMask=displayName,disabled",
		map[string]any{"displayName": "GitHub", "description": "ignored", "disabled": true}), http.StatusOK)
	got = must(t, "get pool", do(t, c, http.MethodGet, iam, pool, nil), http.StatusOK).obj
	if got["displayName"] != "GitHub" || got["description"] != "CI" || got["disabled"] != true {
		t.Errorf("after the patch the pool is %v", got)
	}

	// Providers, with the provider's snake_case mask for oidc.
	for _, tc := range []struct {
		name string
		body map[string]any
		code int
		msg  string
	}{
		{"no google.subject", map[string]any{"oidc": map[string]any{"issuerUri": "https://token.actions.githubusercontent.com"},
			"attributeMapping": map[string]any{"attribute.actor": "assertion.actor"}}, http.StatusBadRequest, "google.subject"},
		{"two protocols", map[string]any{"oidc": map[string]any{"issuerUri": "https://x"}, "aws": map[string]any{"accountId": "1"},
			"attributeMapping": map[string]any{"google.subject": "assertion.sub"}}, http.StatusBadRequest, "exactly one"},
		{"an http issuer", map[string]any{"oidc": map[string]any{"issuerUri": "http://x"},
			"attributeMapping": map[string]any{"google.subject": "assertion.sub"}}, http.StatusBadRequest, "https://"},
	} {
		a := do(t, c, http.MethodPost, iam, providers+"?workloadIdentityPoolProviderId=invalid", tc.body)
		wantError(t, "provider with "+tc.name, a, tc.code, "INVALID_ARGUMENT", tc.msg)
	}
	wantError(t, "a pool ID Google reserves", do(t, c, http.MethodPost, iam, pools+"?workloadIdentityPoolId=gcp-pool", map[string]any{}),
		http.StatusBadRequest, "INVALID_ARGUMENT", "gcp-")
	must(t, "create provider", do(t, c, http.MethodPost, iam, providers+"?workloadIdentityPoolProviderId=github", oidcProvider), http.StatusOK)
	must(t, "patch provider", do(t, c, http.MethodPatch, iam, provider+"?updateMask=oidc.allowed_audiences,oidc.issuer_uri,oidc.jwks_json",
		map[string]any{"oidc": map[string]any{"issuerUri": "https://token.actions.githubusercontent.com", "allowedAudiences": []any{"sts"}}}), http.StatusOK)
	got = must(t, "get provider", do(t, c, http.MethodGet, iam, provider, nil), http.StatusOK).obj
	oidc, _ := got["oidc"].(map[string]any)
	if aud, _ := oidc["allowedAudiences"].([]any); len(aud) != 1 || got["attributeCondition"] != oidcProvider["attributeCondition"] ||
		got["name"] != "projects/"+number+"/locations/global/workloadIdentityPools/github/providers/github" {
		t.Errorf("provider after the patch: %v", got)
	}
	list := must(t, "list providers", do(t, c, http.MethodGet, iam, providers, nil), http.StatusOK).obj
	if l, _ := list["workloadIdentityPoolProviders"].([]any); len(l) != 1 {
		t.Errorf("list providers: %v", list)
	}

	// IDs are taken.
	wantError(t, "create the pool again", do(t, c, http.MethodPost, iam, pools+"?workloadIdentityPoolId=github", map[string]any{}),
		http.StatusConflict, "ALREADY_EXISTS", "Requested entity already exists")

	// Soft delete: the object stays, DELETED, and its ID stays taken.
	for _, path := range []string{provider, pool} {
		must(t, "delete "+path, do(t, c, http.MethodDelete, iam, path, nil), http.StatusOK)
		got = must(t, "get deleted "+path, do(t, c, http.MethodGet, iam, path, nil), http.StatusOK).obj
		if got["state"] != "DELETED" || got["expireTime"] == nil {
			t.Errorf("deleted %s reads as %v, want state DELETED with an expireTime", path, got)
		}
	}
	wantError(t, "re-create the deleted pool", do(t, c, http.MethodPost, iam, pools+"?workloadIdentityPoolId=github", map[string]any{}),
		http.StatusConflict, "ALREADY_EXISTS", "Requested entity already exists")
	if r := lastRule(t, g, http.MethodPost, pools); r != "workload-identity" {
		t.Errorf("answered by rule %q, want workload-identity", r)
	}
	wantError(t, "delete the deleted pool", do(t, c, http.MethodDelete, iam, pool, nil), http.StatusNotFound, "NOT_FOUND", "")
	if l := must(t, "list pools", do(t, c, http.MethodGet, iam, pools, nil), http.StatusOK).obj; len(l) != 0 {
		t.Errorf("list without showDeleted shows %v", l)
	}
	l := must(t, "list deleted pools", do(t, c, http.MethodGet, iam, pools+"?showDeleted=true", nil), http.StatusOK).obj
	if p, _ := l["workloadIdentityPools"].([]any); len(p) != 1 {
		t.Errorf("list with showDeleted: %v", l)
	}
	must(t, "undelete", do(t, c, http.MethodPost, iam, pool+":undelete", map[string]any{}), http.StatusOK)
	if got = do(t, c, http.MethodGet, iam, pool, nil).obj; got["state"] != "ACTIVE" {
		t.Errorf("undeleted pool: %v", got)
	}

	// The project may be named by its number, as Google's own names do.
	must(t, "get the pool by project number",
		do(t, c, http.MethodGet, iam, "/v1/projects/"+number+"/locations/global/workloadIdentityPools/github", nil), http.StatusOK)

	t.Run("the mock alone", func(t *testing.T) {
		a := direct(t, g, http.MethodPost, iam, pools+"?workloadIdentityPoolId=other", map[string]any{})
		if a.status != http.StatusNotFound {
			t.Errorf("the mock answered a pool create with %d %v: it serves pools now?", a.status, a.obj)
		}
	})
}

// fmtNumber is the test project's number as the mock gives it.
func fmtNumber(t *testing.T, g *Google) string {
	t.Helper()
	a := must(t, "get project", direct(t, g, http.MethodGet, "cloudresourcemanager.googleapis.com", "/v1/projects/"+project, nil), http.StatusOK)
	n := fmt.Sprint(a.obj["projectNumber"])
	if n == "" || n == "<nil>" {
		t.Fatalf("project without a number: %v", a.obj)
	}
	return n
}
