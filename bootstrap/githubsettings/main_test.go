package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

const repoPath = "/repos/my-org/asyncjobs"

// goodSettings are the answers of GitHub's API for a repository set up as
// docs/delivery.md says, read with an administrator's token.
func goodSettings() map[string]any {
	return map[string]any{
		"": map[string]any{"private": true},
		"/environments/production": map[string]any{
			"can_admins_bypass": false,
			"protection_rules": []any{
				map[string]any{"type": "required_reviewers", "prevent_self_review": true, "reviewers": []any{map[string]any{"type": "Team"}}},
				map[string]any{"type": "branch_policy"},
			},
			"deployment_branch_policy": map[string]any{"protected_branches": false, "custom_branch_policies": true},
		},
		"/environments/production/deployment-branch-policies": map[string]any{
			"total_count": 1, "branch_policies": []any{map[string]any{"name": "main", "type": "branch"}}},
		"/rules/branches/main": []any{
			map[string]any{"type": "deletion", "ruleset_source_type": "Repository", "ruleset_id": 7},
			map[string]any{"type": "pull_request", "ruleset_source_type": "Repository", "ruleset_id": 7, "parameters": map[string]any{
				"required_approving_review_count": 1, "require_last_push_approval": true, "dismiss_stale_reviews_on_push": true}},
		},
		"/rulesets/7":                   map[string]any{"id": 7, "bypass_actors": []any{}},
		"/actions/permissions/workflow": map[string]any{"default_workflow_permissions": "read", "can_approve_pull_request_reviews": false},
		"/actions/permissions/fork-pr-workflows-private-repos": map[string]any{
			"run_workflows_from_fork_pull_requests": true, "send_write_tokens_to_workflows": false,
			"send_secrets_and_variables": false, "require_approval_for_fork_pr_workflows": true},
		"/actions/secrets": map[string]any{"total_count": 1, "secrets": []any{map[string]any{"name": "PULUMI_ACCESS_TOKEN"}}},
	}
}

// forbidden marks an answer the token may not read.
type forbidden struct{}

// serve answers GET requests of the API from settings (a path missing is a
// 404), and checks the token is sent.
func serve(t *testing.T, settings map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer test-token" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		path, ok := strings.CutPrefix(r.URL.Path, repoPath)
		v, found := settings[path]
		switch {
		case !ok || !found:
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		case v == (forbidden{}):
			http.Error(w, `{"message":"Resource not accessible by integration"}`, http.StatusForbidden)
		default:
			_ = json.NewEncoder(w).Encode(v)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func runCheck(t *testing.T, settings map[string]any, extra ...string) (int, string, string) {
	t.Helper()
	srv := serve(t, settings)
	t.Setenv("GH_TOKEN", "test-token")
	var stdout, stderr bytes.Buffer
	args := append([]string{"--repo", "my-org/asyncjobs", "--environment", "production", "--branch", "main", "--api", srv.URL}, extra...)
	code := cli.Run(context.Background(), "githubsettings", run, args, nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// set returns goodSettings with path answered by v (nil: a 404).
func set(changes map[string]any) map[string]any {
	s := goodSettings()
	maps.Copy(s, changes)
	for k, v := range changes {
		if v == nil {
			delete(s, k)
		}
	}
	return s
}

func envWith(change func(env map[string]any)) map[string]any {
	env := goodSettings()["/environments/production"].(map[string]any)
	change(env)
	return env
}

// TestGoodSettings: a repository set up as docs/delivery.md says passes,
// with every setting checked.
func TestGoodSettings(t *testing.T) {
	code, stdout, stderr := runCheck(t, goodSettings(), "--strict")
	if code != cli.ExitOK || strings.Contains(stdout, "FAIL") || strings.Contains(stdout, "not checked") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stdout, "ok: "); n < 9 {
		t.Errorf("only %d checks passed:\n%s", n, stdout)
	}
	// Classic branch protection instead of a ruleset.
	code, stdout, stderr = runCheck(t, set(map[string]any{
		"/rules/branches/main": []any{},
		"/branches/main/protection": map[string]any{
			"required_pull_request_reviews": map[string]any{"required_approving_review_count": 2, "require_last_push_approval": true, "dismiss_stale_reviews": true},
			"enforce_admins":                map[string]any{"enabled": true},
		},
	}), "--strict")
	if code != cli.ExitOK || strings.Contains(stdout, "FAIL") {
		t.Errorf("branch protection instead of a ruleset: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// A public repository has no fork setting to read.
	code, stdout, _ = runCheck(t, set(map[string]any{
		"": map[string]any{"private": false}, "/actions/permissions/fork-pr-workflows-private-repos": nil}), "--strict")
	if code != cli.ExitOK || !strings.Contains(stdout, "a public repository") {
		t.Errorf("a public repository: exit %d\n%s", code, stdout)
	}
}

// TestWeakerSettingsFail: each setting production relies on, missing or
// weaker, fails the check with a line saying what and how to fix it.
func TestWeakerSettingsFail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes map[string]any
		want    string
	}{
		{"no environment", map[string]any{"/environments/production": nil},
			"environment production does not exist: the first job naming it would create it without reviewers"},
		{"no reviewers", map[string]any{"/environments/production": envWith(func(e map[string]any) {
			e["protection_rules"] = []any{map[string]any{"type": "branch_policy"}}
		})}, "environment production has no required reviewers"},
		{"self-review", map[string]any{"/environments/production": envWith(func(e map[string]any) {
			e["protection_rules"].([]any)[0].(map[string]any)["prevent_self_review"] = false
		})}, "whoever starts a deployment may approve it"},
		{"admin bypass of the environment", map[string]any{"/environments/production": envWith(func(e map[string]any) { e["can_admins_bypass"] = true })},
			"administrators may bypass its protection rules"},
		{"any branch", map[string]any{"/environments/production": envWith(func(e map[string]any) { e["deployment_branch_policy"] = nil })},
			"has no deployment branch policy"},
		{"every protected branch", map[string]any{"/environments/production": envWith(func(e map[string]any) {
			e["deployment_branch_policy"] = map[string]any{"protected_branches": true, "custom_branch_policies": false}
		})}, "lets every protected branch deploy"},
		{"another branch too", map[string]any{"/environments/production/deployment-branch-policies": map[string]any{"branch_policies": []any{
			map[string]any{"name": "main", "type": "branch"}, map[string]any{"name": "release/*", "type": "branch"}}}}, "may also be deployed from branch release/*"},
		{"main unprotected", map[string]any{"/rules/branches/main": []any{}}, "branch main is not protected"},
		{"a ruleset without last-push approval", map[string]any{"/rules/branches/main": []any{map[string]any{
			"type": "pull_request", "ruleset_source_type": "Repository", "ruleset_id": 7,
			"parameters": map[string]any{
				"required_approving_review_count": 1, "require_last_push_approval": false, "dismiss_stale_reviews_on_push": true}}}},
			"branch main is not protected"},
		{"ruleset bypass", map[string]any{"/rulesets/7": map[string]any{"bypass_actors": []any{
			map[string]any{"actor_type": "RepositoryRole", "actor_id": 5, "bypass_mode": "always"}}}},
			"ruleset 7 may be bypassed by RepositoryRole 5 (always)"},
		{"branch protection admins bypass", map[string]any{"/rules/branches/main": []any{}, "/branches/main/protection": map[string]any{
			"required_pull_request_reviews": map[string]any{"required_approving_review_count": 1, "require_last_push_approval": true, "dismiss_stale_reviews": true},
			"enforce_admins":                map[string]any{"enabled": false}}}, "administrators may bypass its protection"},
		{"actions approve pull requests", map[string]any{"/actions/permissions/workflow": map[string]any{"can_approve_pull_request_reviews": true}},
			"GitHub Actions may approve pull requests"},
		{"write tokens to forks", map[string]any{"/actions/permissions/fork-pr-workflows-private-repos": map[string]any{
			"send_write_tokens_to_workflows": true, "send_secrets_and_variables": false}},
			"pull requests from forks get write tokens (true)"},
		{"the prod token as a repository secret",
			map[string]any{"/actions/secrets": map[string]any{"secrets": []any{map[string]any{"name": "PULUMI_ACCESS_TOKEN_PROD"}}}},
			"PULUMI_ACCESS_TOKEN_PROD is a repository secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCheck(t, set(tc.changes))
			if code != cli.ExitFailed || !strings.Contains(stdout, "FAIL: ") || !strings.Contains(stdout, tc.want) {
				t.Errorf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", code, cli.ExitFailed, tc.want, stdout, stderr)
			}
		})
	}
}

// TestWorkflowToken: with a workflow's token (actions: read) what only an
// administrator can read is reported "not checked" and passes, unless
// --strict; the environment and the branch's rules are checked all the
// same.
func TestWorkflowToken(t *testing.T) {
	settings := set(map[string]any{
		"/rulesets/7":                   map[string]any{"id": 7},
		"/actions/permissions/workflow": forbidden{},
		"/actions/permissions/fork-pr-workflows-private-repos": forbidden{},
		"/actions/secrets": forbidden{},
	})
	code, stdout, stderr := runCheck(t, settings)
	if code != cli.ExitOK || strings.Count(stdout, "not checked: ") != 4 || !strings.Contains(stdout, "ok: environment production: only branch main may deploy") {
		t.Errorf("a workflow's token: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCheck(t, settings, "--strict")
	if code != cli.ExitFailed || !strings.Contains(stderr, "4 settings were not checked") {
		t.Errorf("--strict with a workflow's token: exit %d\n%s", code, stderr)
	}
	// A missing environment fails even so.
	delete(settings, "/environments/production")
	if code, stdout, _ := runCheck(t, settings); code != cli.ExitFailed || !strings.Contains(stdout, "does not exist") {
		t.Errorf("a missing environment with a workflow's token: exit %d\n%s", code, stdout)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--repo", "no-slash"}, {}, {"--repo", "o/r", "stray"}, {"--no-such-flag"}} {
		var stdout, stderr bytes.Buffer
		if code := cli.Run(context.Background(), "githubsettings", run, args, nil, &stdout, &stderr); code != cli.ExitUsage ||
			!strings.Contains(stderr.String(), "\nusage: githubsettings --repo owner/name") {
			t.Errorf("%q: exit %d, stderr %q; want %d and the usage line", args, code, stderr.String(), cli.ExitUsage)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Run(context.Background(), "githubsettings", run, []string{"-h"}, nil, &stdout, &stderr); code != cli.ExitOK ||
		!strings.HasPrefix(stdout.String(), "usage: githubsettings ") || stderr.Len() != 0 {
		t.Errorf("-h: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
