package main

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/recorder"
)

// The threat model (docs/threat-model.md) over the example stack's recorded
// plan: from the claims of a GitHub Actions token, which pools admit it
// (by evaluating each provider's attribute condition), which accounts it
// can then act as (workloadIdentityUser, token creator or actAs on the
// account, or a project role that can impersonate every account of the
// account's project), and what those accounts hold.

// claims of a GitHub Actions OIDC token (all strings, as GitHub sends them).
type claims map[string]string

// principal is one row of the threat model.
type principal struct {
	name string
	// token is the principal's GitHub token, or nil for an identity row
	// (start from the account itself).
	token   claims
	account string
	// fromPR: code of a pull request runs as this principal.
	fromPR bool
}

func ids(extra claims) claims {
	c := claims{"repository": repo, "repository_id": repoID, "repository_owner_id": ownerID}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

var principals = []principal{
	// A fork's own workflows carry the fork's ids; GitHub gives a fork's
	// pull_request run in this repository no id-token at all.
	{name: "pr-from-fork", fromPR: true, token: claims{"repository": "attacker/asyncjobs", "repository_id": "555", "repository_owner_id": "666", "ref": "refs/pull/1/merge"}},
	// Same-named repository re-registered by someone else: new ids.
	{name: "re-registered-name", fromPR: true, token: claims{"repository": repo, "repository_id": "777", "repository_owner_id": ownerID + "0", "ref": "refs/heads/main"}},
	{name: "pr-from-branch", fromPR: true, token: ids(claims{"ref": "refs/pull/7/merge"})},
	// A pull request's job that declares the production environment
	// (GitHub's branch rule refuses it; the pool refuses it regardless).
	{name: "pr-claiming-production", fromPR: true, token: ids(claims{"ref": "refs/pull/7/merge", "environment": "production"})},
	{name: "branch-claiming-production", fromPR: true, token: ids(claims{"ref": "refs/heads/feature", "environment": "production"})},
	{name: "main", token: ids(claims{"ref": "refs/heads/main"})},
	{name: "sweep", token: ids(claims{"ref": "refs/heads/main"})},
	{name: "production-environment", token: ids(claims{"ref": "refs/heads/main", "environment": "production"})},
	{name: "deployer-dev", account: "pulumi-dev"},
	{name: "deployer-prod", account: "pulumi-prod"},
	{name: "previewer-prod", account: "pulumi-prod-preview"},
}

// reach is what a principal can do, summarised.
type reach struct {
	accounts   []string // account ids it can act as
	admin      []string // projects where it holds a role beyond reading
	read       []string // projects where it holds only read roles
	stateWrite []string // environments whose state bucket it can write
	stateRead  []string // environments whose state bucket it can only read
	encrypt    []string // environments whose secrets key it can encrypt with
	decrypt    []string // environments whose secrets key it can only decrypt with
}

var wantReach = map[string]reach{
	"pr-from-fork":       {},
	"re-registered-name": {},
	"pr-from-branch": {accounts: []string{"pulumi-dev", "pulumi-prod-preview"}, admin: []string{"asyncjobs-dev"}, read: []string{"asyncjobs-prod"},
		stateWrite: []string{"dev"}, stateRead: []string{"prod"}, encrypt: []string{"dev"}, decrypt: []string{"prod"}},
	"pr-claiming-production": {accounts: []string{"pulumi-dev", "pulumi-prod-preview"}, admin: []string{"asyncjobs-dev"}, read: []string{"asyncjobs-prod"},
		stateWrite: []string{"dev"}, stateRead: []string{"prod"}, encrypt: []string{"dev"}, decrypt: []string{"prod"}},
	"branch-claiming-production": {accounts: []string{"pulumi-dev", "pulumi-prod-preview"}, admin: []string{"asyncjobs-dev"}, read: []string{"asyncjobs-prod"},
		stateWrite: []string{"dev"}, stateRead: []string{"prod"}, encrypt: []string{"dev"}, decrypt: []string{"prod"}},
	"main": {accounts: []string{"pulumi-dev", "pulumi-prod-preview"}, admin: []string{"asyncjobs-dev"}, read: []string{"asyncjobs-prod"},
		stateWrite: []string{"dev"}, stateRead: []string{"prod"}, encrypt: []string{"dev"}, decrypt: []string{"prod"}},
	"sweep": {accounts: []string{"pulumi-dev", "pulumi-prod-preview"}, admin: []string{"asyncjobs-dev"}, read: []string{"asyncjobs-prod"},
		stateWrite: []string{"dev"}, stateRead: []string{"prod"}, encrypt: []string{"dev"}, decrypt: []string{"prod"}},
	"production-environment": {accounts: []string{"pulumi-dev", "pulumi-prod", "pulumi-prod-preview"}, admin: []string{"asyncjobs-dev", "asyncjobs-prod"},
		stateWrite: []string{"dev", "prod"}, encrypt: []string{"dev", "prod"}},
	"deployer-dev":   {accounts: []string{"pulumi-dev"}, admin: []string{"asyncjobs-dev"}, stateWrite: []string{"dev"}, encrypt: []string{"dev"}},
	"deployer-prod":  {accounts: []string{"pulumi-prod"}, admin: []string{"asyncjobs-prod"}, stateWrite: []string{"prod"}, encrypt: []string{"prod"}},
	"previewer-prod": {accounts: []string{"pulumi-prod-preview"}, read: []string{"asyncjobs-prod"}, stateRead: []string{"prod"}, decrypt: []string{"prod"}},
}

var clauseRE = regexp.MustCompile(`^assertion\.([a-z_]+) == "([^"\\]*)"$`)

// admits evaluates an attribute condition of the form the bootstrap writes
// (a conjunction of assertion.<claim> == "<value>"); anything else fails
// the test, so the evaluator cannot silently misread a new condition.
func admits(t *testing.T, condition string, c claims) bool {
	t.Helper()
	ok := true
	for _, clause := range strings.Split(condition, " && ") {
		m := clauseRE.FindStringSubmatch(clause)
		if m == nil {
			t.Fatalf("condition %q: clause %q is not assertion.<claim> == \"<value>\"", condition, clause)
		}
		if v, present := c[m[1]]; !present || v != m[2] {
			ok = false
		}
	}
	return ok
}

// impersonatesProject: project roles whose holder can act as, mint tokens
// for, or set IAM on every service account of the project.
var impersonatesProject = map[string]bool{
	"roles/owner": true, "roles/editor": true, "roles/iam.securityAdmin": true,
	"roles/iam.serviceAccountAdmin": true, "roles/iam.serviceAccountUser": true,
	"roles/iam.serviceAccountTokenCreator": true, "roles/iam.workloadIdentityUser": true,
	"roles/resourcemanager.projectIamAdmin": true,
}

var impersonatesAccount = map[string]bool{
	"roles/iam.workloadIdentityUser": true, "roles/iam.serviceAccountTokenCreator": true,
	"roles/iam.serviceAccountUser": true, "roles/iam.serviceAccountAdmin": true, "roles/owner": true, "roles/editor": true,
}

func readOnly(role string) bool {
	return role == "roles/browser" || strings.HasSuffix(role, ".viewer") || strings.HasSuffix(role, "Viewer") || role == "roles/cloudkms.cryptoKeyDecrypter"
}

// model indexes the plan's accounts and grants.
type model struct {
	plan *recorder.Plan
	// account id -> its member string, its project
	member, project map[string]string
}

func newModel(t *testing.T, plan *recorder.Plan) *model {
	m := &model{plan: plan, member: map[string]string{}, project: map[string]string{}}
	for _, a := range plan.ByType("gcp:serviceaccount/account:Account") {
		id := str(t, a, "accountId")
		p := str(t, a, "project")
		m.member[id] = "serviceAccount:" + id + "@" + p + ".iam.gserviceaccount.com"
		m.project[id] = p
	}
	return m
}

func (m *model) accountOf(t *testing.T, serviceAccountID string) string {
	for id, member := range m.member {
		if serviceAccountID == "projects/"+m.project[id]+"/serviceAccounts/"+strings.TrimPrefix(member, "serviceAccount:") {
			return id
		}
	}
	t.Fatalf("grant on unknown account %s", serviceAccountID)
	return ""
}

// reachOf computes a principal's reach: the accounts it can act as
// (transitively), and what they hold.
func (m *model) reachOf(t *testing.T, p principal) reach {
	members := map[string]bool{}
	if p.token != nil {
		for _, prov := range m.plan.ByType("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider") {
			if admits(t, str(t, prov, "attributeCondition"), p.token) {
				members[poolPrefix+str(t, prov, "workloadIdentityPoolId")+"/attribute.repository_id/"+p.token["repository_id"]] = true
			}
		}
	}
	accounts := map[string]bool{}
	if p.account != "" {
		accounts[p.account] = true
		members[m.member[p.account]] = true
	}
	for changed := true; changed; {
		changed = false
		add := func(id string) {
			if !accounts[id] {
				accounts[id], members[m.member[id]], changed = true, true, true
			}
		}
		for _, g := range m.plan.ByType("gcp:serviceaccount/iAMMember:IAMMember") {
			if members[str(t, g, "member")] && impersonatesAccount[str(t, g, "role")] {
				add(m.accountOf(t, str(t, g, "serviceAccountId")))
			}
		}
		for _, g := range m.plan.ByType("gcp:projects/iAMMember:IAMMember") {
			role := str(t, g, "role")
			if !members[str(t, g, "member")] || !impersonatesProject[role] {
				continue
			}
			if c, _ := g.Input("condition.expression"); c != nil && role == "roles/resourcemanager.projectIamAdmin" {
				want := "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['" + NodeRole + "'])"
				if c == want {
					continue // may grant the GKE node role only
				}
			}
			for id, proj := range m.project {
				if proj == str(t, g, "project") {
					add(id)
				}
			}
		}
	}

	var r reach
	admin, read := map[string]bool{}, map[string]bool{}
	for _, g := range m.plan.ByType("gcp:projects/iAMMember:IAMMember") {
		if members[str(t, g, "member")] {
			if readOnly(str(t, g, "role")) {
				read[str(t, g, "project")] = true
			} else {
				admin[str(t, g, "project")] = true
			}
		}
	}
	for p := range admin {
		delete(read, p)
	}
	env := func(name string) string { return name[strings.LastIndex(name, "-")+1:] }
	sw, sr := map[string]bool{}, map[string]bool{}
	for _, g := range m.plan.ByType("gcp:storage/bucketIAMMember:BucketIAMMember") {
		if members[str(t, g, "member")] {
			if readOnly(str(t, g, "role")) || str(t, g, "role") == "roles/storage.objectViewer" {
				sr[env(str(t, g, "bucket"))] = true
			} else {
				sw[env(str(t, g, "bucket"))] = true
			}
		}
	}
	for e := range sw {
		delete(sr, e)
	}
	enc, dec := map[string]bool{}, map[string]bool{}
	for _, g := range m.plan.ByType("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") {
		if members[str(t, g, "member")] {
			e := strings.TrimSuffix(g.Name, "-secrets")
			e = e[strings.LastIndex(e, "-")+1:]
			if readOnly(str(t, g, "role")) {
				dec[e] = true
			} else {
				enc[e] = true
			}
		}
	}
	for e := range enc {
		delete(dec, e)
	}
	r.accounts, r.admin, r.read = keys(accounts), keys(admin), keys(read)
	r.stateWrite, r.stateRead, r.encrypt, r.decrypt = keys(sw), keys(sr), keys(enc), keys(dec)
	return r
}

func keys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// TestThreatModel: each principal of docs/threat-model.md reaches exactly
// what its row says.
func TestThreatModel(t *testing.T) {
	m := newModel(t, recordExample(t))
	for _, p := range principals {
		t.Run(p.name, func(t *testing.T) {
			got, want := m.reachOf(t, p), wantReach[p.name]
			check := func(what string, got, want []string) {
				if !slices.Equal(got, want) {
					t.Errorf("%s: %v, want %v", what, got, want)
				}
			}
			check("acts as", got.accounts, want.accounts)
			check("administers projects", got.admin, want.admin)
			check("reads projects", got.read, want.read)
			check("writes state of", got.stateWrite, want.stateWrite)
			check("reads state of", got.stateRead, want.stateRead)
			check("encrypts with the key of", got.encrypt, want.encrypt)
			check("decrypts with the key of", got.decrypt, want.decrypt)
		})
	}
}

// TestNoPathFromAPullRequestToProduction: no principal whose code a pull
// request controls can act as the prod deployer, hold any role beyond
// reading on the prod project, write prod's state or encrypt with its key;
// and nothing but the production environment's pool is granted on the
// prod deployer account (no setIamPolicy, token creator or
// workloadIdentityUser for anyone else), while no role at all is granted on
// the host project that holds it.
func TestNoPathFromAPullRequestToProduction(t *testing.T) {
	plan := recordExample(t)
	m := newModel(t, plan)
	for _, p := range principals {
		if !p.fromPR {
			continue
		}
		r := m.reachOf(t, p)
		if slices.Contains(r.accounts, "pulumi-prod") || slices.Contains(r.admin, "asyncjobs-prod") ||
			slices.Contains(r.stateWrite, "prod") || slices.Contains(r.encrypt, "prod") {
			t.Errorf("%s reaches production: %+v", p.name, r)
		}
	}
	for _, g := range plan.ByType("gcp:serviceaccount/iAMMember:IAMMember") {
		if m.accountOf(t, str(t, g, "serviceAccountId")) == "pulumi-prod" &&
			str(t, g, "member") != poolPrefix+"github-prod/attribute.repository_id/"+repoID {
			t.Errorf("%s: %s on the prod deployer for %s", g.Name, str(t, g, "role"), str(t, g, "member"))
		}
	}
	for _, g := range plan.ByType("gcp:projects/iAMMember:IAMMember") {
		if str(t, g, "project") == host {
			t.Errorf("%s: %s on the host project", g.Name, str(t, g, "role"))
		}
	}
}

// TestThreatModelDocument keeps docs/threat-model.md's table in step with
// the rows tested here.
func TestThreatModelDocument(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "threat-model.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, p := range principals {
		if !strings.Contains(doc, "`TestThreatModel/"+p.name+"`") {
			t.Errorf("docs/threat-model.md has no row naming TestThreatModel/%s", p.name)
		}
	}
	for _, m := range regexp.MustCompile("`TestThreatModel/([a-z-]+)`").FindAllStringSubmatch(doc, -1) {
		if _, ok := wantReach[m[1]]; !ok {
			t.Errorf("docs/threat-model.md names TestThreatModel/%s, which is no row of the test", m[1])
		}
	}
}

// silencers lists who could silence an environment's overdue alerts
// without being able to deploy that environment: a principal holding a
// role beyond reading on a project where a completions metric lives (it
// could change or delete the counter) that cannot act as the deployer of
// every environment whose cluster runs there.
func silencers(t *testing.T, plan *recorder.Plan, cfg Config) (bad []string, holders int) {
	m := newModel(t, plan)
	for _, metric := range plan.ByType(metricType) {
		project := str(t, metric, "project")
		for _, p := range principals {
			r := m.reachOf(t, p)
			if !slices.Contains(r.admin, project) {
				continue
			}
			holders++
			for _, name := range slices.Sorted(maps.Keys(cfg.Environments)) {
				if cfg.Environments[name].ClusterProjectID() == project && !slices.Contains(r.accounts, "pulumi-"+name) {
					bad = append(bad, p.name+" can change "+project+"'s completions metric, which counts "+name+"'s runs, but cannot deploy "+name)
				}
			}
		}
	}
	return bad, holders
}

// TestOnlyAnEnvironmentsDeployersCanSilenceItsOverdueAlerts: whoever can
// change or delete the completions metric of a cluster's project can
// already deploy every environment whose cluster runs there; in particular
// no pull request can touch prod's.
func TestOnlyAnEnvironmentsDeployersCanSilenceItsOverdueAlerts(t *testing.T) {
	bad, holders := silencers(t, recordExample(t), exampleConfig(t))
	for _, b := range bad {
		t.Error(b)
	}
	if holders == 0 {
		t.Error("nobody administers a project with a completions metric: the check checked nothing")
	}
	// The check finds the layout Validate refuses: dev's cluster in prod's
	// project would let the prod deployer silence dev's alerts.
	cfg := exampleConfig(t)
	dev := cfg.Environments["dev"]
	dev.ClusterProject = "asyncjobs-prod"
	cfg.Environments["dev"] = dev
	if len(cfg.Validate()) == 0 {
		t.Error("Validate accepts dev's cluster in prod's project")
	}
	if bad, _ := silencers(t, recordConfig(t, cfg), cfg); len(bad) == 0 {
		t.Error("dev's cluster in prod's project: no silencer found")
	}
}
