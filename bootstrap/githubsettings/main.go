// Command githubsettings checks, through the GitHub REST API, the GitHub
// settings the bootstrap's protected environment relies on, and fails when
// one is missing or weaker:
//
//	go run ./bootstrap/githubsettings --repo my-org/asyncjobs --environment production --branch main [--strict]
//
// The prod pool admits only tokens of jobs in the GitHub environment, on
// the branch; GitHub enforces who may run such a job. So:
//
//   - the environment exists (a job naming a missing environment creates
//     it, unprotected, and runs at once), with required reviewers who may
//     not approve their own runs, no administrator bypass, and the branch
//     as its only deployment branch;
//   - the branch is protected by a ruleset or branch protection that
//     requires an approving review of the last push, with stale approvals
//     dismissed, that nobody may bypass;
//   - GitHub Actions may not approve pull requests (a workflow's token
//     would satisfy the review);
//   - pull requests from forks get no write tokens (id-token included) and
//     no secrets (private repositories);
//   - a Pulumi Cloud token that can write prod (PULUMI_ACCESS_TOKEN_PROD)
//     is no repository secret, which every job could read.
//
// The token comes from GH_TOKEN or GITHUB_TOKEN. With a workflow's token
// (actions: read) the environment and the branch's rules can be read; the
// rest needs an administrator's token and is reported "not checked";
// --strict fails on those too. Each line of the output is "ok", "FAIL" or
// "not checked". Exit status: 0 nothing failed, 1 something failed (or, with
// --strict, was not checked), 2 usage.
//
// The endpoints are GitHub's (docs.github.com, REST API: deployments/
// environments, deployments/branch-policies, repos/rules, branches/
// branch-protection, actions/permissions, actions/secrets).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

var command = &cli.Command{
	Name:      "githubsettings",
	UsageLine: "githubsettings --repo owner/name [--environment name] [--branch name] [--strict] [--api url]",
	Long: `Githubsettings checks, through the GitHub REST API, the GitHub settings the
bootstrap's protected environment relies on (docs/delivery.md), and fails
when one is missing or weaker. The token comes from GH_TOKEN or
GITHUB_TOKEN; what it cannot read is reported "not checked", which
--strict fails on too. Each line of the output is "ok", "FAIL" or
"not checked".

Exit status: 0 nothing failed, 1 something failed (or, with --strict, was
not checked), 2 usage.`,
}

func main() { cli.Main(command.Name, run) }

func run(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := command.FlagSet()
	repo := fs.String("repo", "", "repository as owner/name (required)")
	env := fs.String("environment", "production", "the protected GitHub environment")
	branch := fs.String("branch", "main", "its only deployment branch")
	api := fs.String("api", "https://api.github.com", "GitHub REST API base URL")
	strict := fs.Bool("strict", false, "fail on a setting this token cannot read, too")
	if err := command.Parse(fs, args, stdout); err != nil {
		return err
	}
	if *repo == "" {
		return command.UsageError(errors.New("--repo is required"))
	}
	if !regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$`).MatchString(*repo) {
		return command.UsageError(fmt.Errorf("--repo %q: want owner/name", *repo))
	}
	token := os.Getenv("GH_TOKEN")
	if token == "" {
		token = os.Getenv("GITHUB_TOKEN")
	}
	c := &checker{api: strings.TrimSuffix(*api, "/"), token: token, repo: *repo, http: &http.Client{Timeout: 30 * time.Second}}
	r := c.check(ctx, *env, *branch)
	for _, l := range r.lines {
		fmt.Fprintln(stdout, l)
	}
	switch {
	case r.failed > 0:
		return fmt.Errorf("%d of the GitHub settings production relies on are missing or weaker "+
			"(docs/delivery.md, \"GitHub settings production relies on\")", r.failed)
	case *strict && r.unchecked > 0:
		return fmt.Errorf("--strict: %d settings were not checked: run with a token of an administrator of %s", r.unchecked, *repo)
	}
	return nil
}

// report collects the outcome of each check.
type report struct {
	lines             []string
	failed, unchecked int
}

func (r *report) ok(format string, args ...any) {
	r.lines = append(r.lines, "ok: "+fmt.Sprintf(format, args...))
}

func (r *report) fail(format string, args ...any) {
	r.failed++
	r.lines = append(r.lines, "FAIL: "+fmt.Sprintf(format, args...))
}

func (r *report) notChecked(format string, args ...any) {
	r.unchecked++
	r.lines = append(r.lines, "not checked: "+fmt.Sprintf(format, args...))
}

type checker struct {
	api, token, repo string
	http             *http.Client
}

// apiError is a response other than 200.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.msg) }

func status(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return 0
}

// get fetches a path of the repository ("" for the repository itself)
// into out.
func (c *checker) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api+"/repos/"+c.repo+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var m struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &m)
		return &apiError{status: resp.StatusCode, msg: m.Message}
	}
	return json.Unmarshal(body, out)
}

type environment struct {
	CanAdminsBypass *bool `json:"can_admins_bypass"`
	ProtectionRules []struct {
		Type              string            `json:"type"`
		PreventSelfReview *bool             `json:"prevent_self_review"`
		Reviewers         []json.RawMessage `json:"reviewers"`
	} `json:"protection_rules"`
	DeploymentBranchPolicy *struct {
		ProtectedBranches    bool `json:"protected_branches"`
		CustomBranchPolicies bool `json:"custom_branch_policies"`
	} `json:"deployment_branch_policy"`
}

type branchRule struct {
	Type              string `json:"type"`
	RulesetSourceType string `json:"ruleset_source_type"`
	RulesetID         int64  `json:"ruleset_id"`
	Parameters        struct {
		RequiredApprovingReviewCount int  `json:"required_approving_review_count"`
		RequireLastPushApproval      bool `json:"require_last_push_approval"`
		DismissStaleReviewsOnPush    bool `json:"dismiss_stale_reviews_on_push"`
	} `json:"parameters"`
}

func (c *checker) check(ctx context.Context, envName, branch string) *report {
	r := &report{}
	c.checkEnvironment(ctx, r, envName, branch)
	c.checkBranch(ctx, r, branch)
	c.checkActions(ctx, r)
	c.checkSecrets(ctx, r, envName)
	return r
}

func (c *checker) checkEnvironment(ctx context.Context, r *report, envName, branch string) {
	var env environment
	path := "/environments/" + url.PathEscape(envName)
	if err := c.get(ctx, path, &env); err != nil {
		if status(err) == http.StatusNotFound {
			r.fail("environment %s does not exist: the first job naming it would create it without reviewers or branch policy and run at once; create it first", envName)
		} else {
			r.fail("environment %s cannot be read (%v): its protection is not known", envName, err)
		}
		return
	}
	reviewers := -1
	for _, rule := range env.ProtectionRules {
		if rule.Type != "required_reviewers" {
			continue
		}
		reviewers = len(rule.Reviewers)
		switch {
		case rule.PreventSelfReview == nil:
			r.notChecked("environment %s: whether reviewers may approve their own runs (no prevent_self_review in the answer)", envName)
		case *rule.PreventSelfReview:
			r.ok("environment %s: reviewers may not approve their own runs", envName)
		default:
			r.fail("environment %s: whoever starts a deployment may approve it (turn on \"Prevent self-review\")", envName)
		}
	}
	if reviewers > 0 {
		r.ok("environment %s: %d required reviewers", envName, reviewers)
	} else {
		r.fail("environment %s has no required reviewers: every push to %s would deploy it unreviewed", envName, branch)
	}
	switch {
	case env.CanAdminsBypass == nil:
		r.notChecked("environment %s: whether administrators may bypass its rules (no can_admins_bypass in the answer)", envName)
	case *env.CanAdminsBypass:
		r.fail("environment %s: administrators may bypass its protection rules (turn off \"Allow administrators to bypass configured protection rules\")", envName)
	default:
		r.ok("environment %s: administrators may not bypass its rules", envName)
	}
	p := env.DeploymentBranchPolicy
	switch {
	case p == nil:
		r.fail("environment %s has no deployment branch policy: jobs of any branch may use it", envName)
	case !p.CustomBranchPolicies:
		r.fail("environment %s lets every protected branch deploy: allow %s alone (selected branches)", envName, branch)
	default:
		var policies struct {
			BranchPolicies []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"branch_policies"`
		}
		if err := c.get(ctx, path+"/deployment-branch-policies?per_page=100", &policies); err != nil {
			r.fail("environment %s: its deployment branch policies cannot be read (%v)", envName, err)
			return
		}
		var others []string
		found := false
		for _, bp := range policies.BranchPolicies {
			if bp.Name == branch && (bp.Type == "" || bp.Type == "branch") {
				found = true
			} else {
				others = append(others, bp.Type+" "+bp.Name)
			}
		}
		switch {
		case len(others) > 0:
			r.fail("environment %s may also be deployed from %s: allow branch %s alone", envName, strings.Join(others, ", "), branch)
		case !found:
			r.fail("environment %s allows no deployment branch: allow branch %s", envName, branch)
		default:
			r.ok("environment %s: only branch %s may deploy", envName, branch)
		}
	}
}

func (c *checker) checkBranch(ctx context.Context, r *report, branch string) {
	var rules []branchRule
	if err := c.get(ctx, "/rules/branches/"+url.PathEscape(branch)+"?per_page=100", &rules); err != nil {
		r.fail("the rules of branch %s cannot be read (%v)", branch, err)
		return
	}
	var reviewRule *branchRule
	for i, rule := range rules {
		p := rule.Parameters
		if rule.Type == "pull_request" && p.RequiredApprovingReviewCount >= 1 && p.RequireLastPushApproval && p.DismissStaleReviewsOnPush {
			reviewRule = &rules[i]
			break
		}
	}
	if reviewRule != nil {
		r.ok("branch %s: a ruleset requires an approving review of the last push, stale approvals dismissed", branch)
		if reviewRule.RulesetSourceType != "Repository" {
			r.notChecked("branch %s: who may bypass the %s ruleset %d (read it as an administrator of its owner)",
				branch, reviewRule.RulesetSourceType, reviewRule.RulesetID)
			return
		}
		var rs struct {
			BypassActors *[]struct {
				ActorType  string `json:"actor_type"`
				ActorID    *int64 `json:"actor_id"`
				BypassMode string `json:"bypass_mode"`
			} `json:"bypass_actors"`
		}
		if err := c.get(ctx, fmt.Sprintf("/rulesets/%d", reviewRule.RulesetID), &rs); err != nil || rs.BypassActors == nil {
			r.notChecked("branch %s: who may bypass ruleset %d (its bypass list needs write access to the repository's rulesets)", branch, reviewRule.RulesetID)
			return
		}
		var bypass []string
		for _, a := range *rs.BypassActors {
			id := "any"
			if a.ActorID != nil {
				id = fmt.Sprint(*a.ActorID)
			}
			bypass = append(bypass, fmt.Sprintf("%s %s (%s)", a.ActorType, id, a.BypassMode))
		}
		if len(bypass) > 0 {
			r.fail("branch %s: ruleset %d may be bypassed by %s", branch, reviewRule.RulesetID, strings.Join(bypass, ", "))
		} else {
			r.ok("branch %s: nobody may bypass ruleset %d", branch, reviewRule.RulesetID)
		}
		return
	}
	// No ruleset: classic branch protection, readable by administrators.
	var prot struct {
		Reviews *struct {
			Count            int  `json:"required_approving_review_count"`
			LastPushApproval bool `json:"require_last_push_approval"`
			DismissStale     bool `json:"dismiss_stale_reviews"`
		} `json:"required_pull_request_reviews"`
		EnforceAdmins *struct {
			Enabled bool `json:"enabled"`
		} `json:"enforce_admins"`
	}
	err := c.get(ctx, "/branches/"+url.PathEscape(branch)+"/protection", &prot)
	switch {
	case err == nil:
		if prot.Reviews == nil || prot.Reviews.Count < 1 || !prot.Reviews.LastPushApproval || !prot.Reviews.DismissStale {
			r.fail("branch %s: its protection does not require an approving review of the last push with stale approvals dismissed", branch)
		} else {
			r.ok("branch %s: its protection requires an approving review of the last push, stale approvals dismissed", branch)
		}
		if prot.EnforceAdmins == nil || !prot.EnforceAdmins.Enabled {
			r.fail("branch %s: administrators may bypass its protection (turn on \"Do not allow bypassing the above settings\")", branch)
		} else {
			r.ok("branch %s: administrators may not bypass its protection", branch)
		}
	case status(err) == http.StatusNotFound:
		r.fail("branch %s is not protected: no ruleset or branch protection requires a review, so anyone who can push can change what production runs", branch)
	default:
		var b struct {
			Protected bool `json:"protected"`
		}
		if berr := c.get(ctx, "/branches/"+url.PathEscape(branch), &b); berr == nil && !b.Protected {
			r.fail("branch %s is not protected: no ruleset or branch protection requires a review", branch)
			return
		}
		r.notChecked("branch %s: its branch protection (%v; reading it needs administration access)", branch, err)
	}
}

func (c *checker) checkActions(ctx context.Context, r *report) {
	var wf struct {
		CanApprove *bool `json:"can_approve_pull_request_reviews"`
	}
	switch err := c.get(ctx, "/actions/permissions/workflow", &wf); {
	case err != nil || wf.CanApprove == nil:
		r.notChecked("whether GitHub Actions may approve pull requests (%v; needs administration access)", err)
	case *wf.CanApprove:
		r.fail("GitHub Actions may approve pull requests: a workflow's token could supply the review %s's protection requires "+
			"(turn off \"Allow GitHub Actions to create and approve pull requests\")", c.repo)
	default:
		r.ok("GitHub Actions may not approve pull requests")
	}
	var repo struct {
		Private *bool `json:"private"`
	}
	if err := c.get(ctx, "", &repo); err == nil && repo.Private != nil && !*repo.Private {
		r.ok("a public repository: pull requests from forks get read-only tokens and no secrets")
		return
	}
	var fork struct {
		WriteTokens *bool `json:"send_write_tokens_to_workflows"`
		Secrets     *bool `json:"send_secrets_and_variables"`
	}
	switch err := c.get(ctx, "/actions/permissions/fork-pr-workflows-private-repos", &fork); {
	case err != nil || fork.WriteTokens == nil || fork.Secrets == nil:
		r.notChecked("what workflows of pull requests from forks get (%v; needs administration access)", err)
	case *fork.WriteTokens || *fork.Secrets:
		r.fail("pull requests from forks get write tokens (%v) or secrets (%v): a fork's job could mint tokens with this repository's ids "+
			"and read its secrets (turn off \"Send write tokens\" and \"Send secrets\")", *fork.WriteTokens, *fork.Secrets)
	default:
		r.ok("pull requests from forks get no write tokens and no secrets")
	}
}

func (c *checker) checkSecrets(ctx context.Context, r *report, envName string) {
	var secrets struct {
		Secrets []struct {
			Name string `json:"name"`
		} `json:"secrets"`
	}
	if err := c.get(ctx, "/actions/secrets?per_page=100", &secrets); err != nil {
		r.notChecked("the repository's secrets (%v; listing them needs administration access)", err)
		return
	}
	for _, s := range secrets.Secrets {
		if s.Name == "PULUMI_ACCESS_TOKEN_PROD" {
			r.fail("PULUMI_ACCESS_TOKEN_PROD is a repository secret, which any job a pull request can write may read: make it a secret of environment %s only", envName)
			return
		}
	}
	r.ok("no repository secret holds the token that can write prod (PULUMI_ACCESS_TOKEN_PROD)")
}
