package fakegoogle

import (
	"net/http"
	"slices"
	"testing"
)

// TestDeletedPrincipal: once a service account is deleted, every policy
// that named it names deleted:serviceAccount:EMAIL?uid=UNIQUE_ID instead,
// and a new account of the same e-mail inherits nothing.
func TestDeletedPrincipal(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	must(t, "topic", do(t, c, http.MethodPut, "pubsub.googleapis.com", "/v1/projects/"+project+"/topics/work", map[string]any{}), http.StatusOK)
	sa := newAccount(t, c, project, "worker-run")
	email, _ := sa["email"].(string)
	uid, _ := sa["uniqueId"].(string)
	member := "serviceAccount:" + email
	deleted := "deleted:" + member + "?uid=" + uid
	policies := []struct{ host, resource, role string }{
		{"pubsub.googleapis.com", "/v1/projects/" + project + "/topics/work", "roles/pubsub.publisher"},
		{"cloudresourcemanager.googleapis.com", "/v1/projects/" + project, "roles/logging.logWriter"},
		{"iam.googleapis.com", "/v1/projects/" + project + "/serviceAccounts/" + email, "roles/iam.serviceAccountTokenCreator"},
	}
	for _, p := range policies {
		grant(t, c, p.host, p.resource, p.role, member)
	}
	accountPath := "/v1/projects/" + project + "/serviceAccounts/" + email
	must(t, "delete the account", do(t, c, http.MethodDelete, "iam.googleapis.com", accountPath, nil), http.StatusOK)
	if r := lastRule(t, g, http.MethodDelete, accountPath); r != "deleted-principal" {
		t.Errorf("the delete is recorded with rule %q, want deleted-principal", r)
	}
	newAccount(t, c, project, "worker-run")
	own := must(t, "getIamPolicy of the new account", do(t, c, http.MethodPost, "iam.googleapis.com", accountPath+":getIamPolicy", map[string]any{}),
		http.StatusOK).obj
	if b := bindingsOf(own); len(b) != 0 {
		t.Errorf("a new account of the same e-mail inherits the deleted one's policy: %v", b)
	}
	for _, p := range policies[:2] {
		got := members(must(t, "getIamPolicy", do(t, c, http.MethodPost, p.host, p.resource+":getIamPolicy", map[string]any{}), http.StatusOK).obj, p.role)
		if !slices.Equal(got, []string{deleted}) {
			t.Errorf("%s %s members after the delete: %v, want [%s]", p.resource, p.role, got, deleted)
		}
	}

	t.Run("the mock alone", func(t *testing.T) {
		other := newAccount(t, c, project, "worker-other")
		otherEmail, _ := other["email"].(string)
		topic := "/v1/projects/" + project + "/topics/work"
		policy := direct(t, g, http.MethodPost, "pubsub.googleapis.com", topic+":getIamPolicy", map[string]any{}).obj
		policy["bindings"] = append(policy["bindings"].([]any), map[string]any{"role": "roles/viewer", "members": []any{"serviceAccount:" + otherEmail}})
		must(t, "set", direct(t, g, http.MethodPost, "pubsub.googleapis.com", topic+":setIamPolicy", map[string]any{"policy": policy}), http.StatusOK)
		must(t, "delete", direct(t, g, http.MethodDelete, "iam.googleapis.com", "/v1/projects/"+project+"/serviceAccounts/"+otherEmail, nil), http.StatusOK)
		got := members(direct(t, g, http.MethodPost, "pubsub.googleapis.com", topic+":getIamPolicy", map[string]any{}).obj, "roles/viewer")
		if !slices.Equal(got, []string{"serviceAccount:" + otherEmail}) {
			t.Errorf("the mock rewrote the deleted account itself: %v", got)
		}
	})
}

// TestAccountPolicyWildcard: a service account has one policy whether it
// is named with its project or with the wildcard "-"; the mock keeps two.
func TestAccountPolicyWildcard(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	email, _ := newAccount(t, c, project, "worker-run")["email"].(string)
	byProject := "/v1/projects/" + project + "/serviceAccounts/" + email
	byWildcard := "/v1/projects/-/serviceAccounts/" + email
	grant(t, c, "iam.googleapis.com", byWildcard, "roles/iam.serviceAccountUser", deployer)
	got := members(must(t, "getIamPolicy", do(t, c, http.MethodPost, "iam.googleapis.com", byProject+":getIamPolicy", map[string]any{}), http.StatusOK).obj,
		"roles/iam.serviceAccountUser")
	if !slices.Equal(got, []string{deployer}) {
		t.Errorf("the policy set through the wildcard reads, through the project, as %v", got)
	}
	t.Run("the mock alone", func(t *testing.T) {
		got := members(direct(t, g, http.MethodPost, "iam.googleapis.com", byWildcard+":getIamPolicy", map[string]any{}).obj, "roles/iam.serviceAccountUser")
		if len(got) != 0 {
			t.Errorf("the mock keeps the wildcard's policy apart no more: %v", got)
		}
	})
}
