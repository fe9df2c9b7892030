package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
)

// The threat model (docs/threat-model.md) over the bootstrap's recorded
// plans: from the claims of a GitHub Actions token, which pools admit it
// (by evaluating each provider's attribute condition), which accounts it
// can then act as (workloadIdentityUser, token creator or actAs on the
// account, or a project role that can impersonate every account of the
// account's project), and what those accounts hold. Every grant of the
// plan is followed by what it reaches (a key ring grant reaches every key
// in the ring), and a resource type the model does not know fails the
// test instead of being ignored.

// claims of a GitHub Actions OIDC token (all strings, as GitHub sends them;
// docs.github.com, "OpenID Connect reference").
type claims map[string]string

// principal is one row of the threat model.
type principal struct {
	name string
	// token is the principal's GitHub token, or nil for an identity row
	// (start from the account itself).
	token   claims
	account string
	// fromPR: code or data a pull request controls runs as this
	// principal (its own code, or a main job that reads the state a
	// pull request can write: the dev deploy, the sweep).
	fromPR bool
}

func ids(extra claims) claims {
	c := claims{"repository": repo, "repository_id": repoID, "repository_owner_id": ownerID}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// workflowRef is the job_workflow_ref of a job of this repository's file
// workflow run at ref.
func workflowRef(file, ref string) string { return WorkflowRef(repo, file, ref) }

var principals = []principal{
	// A fork's own workflows carry the fork's ids; GitHub gives a fork's
	// pull_request run in this repository no id-token at all.
	{name: "pr-from-fork", fromPR: true, token: claims{"repository": "attacker/asyncjobs", "repository_id": "555", "repository_owner_id": "666",
		"event_name": "pull_request", "ref": "refs/pull/1/merge", "job_workflow_ref": "attacker/asyncjobs/.github/workflows/pull-request.yml@refs/pull/1/merge"}},
	// Same-named repository re-registered by someone else: new ids.
	{name: "re-registered-name", fromPR: true, token: claims{"repository": repo, "repository_id": "777", "repository_owner_id": ownerID + "0",
		"event_name": "push", "ref": "refs/heads/main", "environment": "production", "job_workflow_ref": workflowRef("deploy.yml", "refs/heads/main")}},
	// Another repository of the same owner: the owner's id, its own
	// repository id (with the same workflow file and environment name).
	{name: "other-repository-same-owner", fromPR: true, token: claims{"repository": "my-org/other", "repository_id": "111", "repository_owner_id": ownerID,
		"event_name": "push", "ref": "refs/heads/main", "environment": "production",
		"job_workflow_ref": "my-org/other/.github/workflows/deploy.yml@refs/heads/main"}},
	{name: "pr-from-branch", fromPR: true, token: ids(claims{"event_name": "pull_request", "ref": "refs/pull/7/merge",
		"job_workflow_ref": workflowRef("pull-request.yml", "refs/pull/7/merge")})},
	// A pull request's job that declares the production environment, in a
	// pull request that edits deploy.yml (GitHub's branch rule refuses it;
	// the pool refuses it regardless).
	{name: "pr-claiming-production", fromPR: true, token: ids(claims{"event_name": "pull_request", "ref": "refs/pull/7/merge", "environment": "production",
		"job_workflow_ref": workflowRef("deploy.yml", "refs/pull/7/merge")})},
	{name: "branch-claiming-production", fromPR: true, token: ids(claims{"event_name": "push", "ref": "refs/heads/feature", "environment": "production",
		"job_workflow_ref": workflowRef("deploy.yml", "refs/heads/feature")})},
	// Jobs of main whose triggers anyone can cause with a pull request,
	// from a fork too: they run main's workflow with this repository's
	// ids. None of this repository's workflows gives such a job
	// id-token: write (TestForkTriggeredWorkflowsMintNoTokens); the pools
	// refuse their tokens regardless.
	{name: "pull-request-target-on-main", fromPR: true, token: ids(claims{"event_name": "pull_request_target", "ref": "refs/heads/main",
		"job_workflow_ref": workflowRef("pull-request.yml", "refs/heads/main")})},
	{name: "pull-request-target-claiming-production", fromPR: true, token: ids(claims{"event_name": "pull_request_target", "ref": "refs/heads/main",
		"environment": "production", "job_workflow_ref": workflowRef("deploy.yml", "refs/heads/main")})},
	{name: "workflow-run-on-main", fromPR: true, token: ids(claims{"event_name": "workflow_run", "ref": "refs/heads/main",
		"job_workflow_ref": workflowRef("plan-diff-comment.yml", "refs/heads/main")})},
	// main's dev deploy reads dev's state, which every branch pull
	// request can write (a planted provider plugin, a changed resource):
	// pull-request-influenced.
	{name: "main", fromPR: true, token: ids(claims{"event_name": "push", "ref": "refs/heads/main",
		"job_workflow_ref": workflowRef("deploy.yml", "refs/heads/main")})},
	// The scheduled sweep reads the pr-<n> stacks' state: the same.
	{name: "sweep", fromPR: true, token: ids(claims{"event_name": "schedule", "ref": "refs/heads/main",
		"job_workflow_ref": workflowRef("test-stacks.yml", "refs/heads/main")})},
	// A job of another workflow on main naming the environment (were the
	// sweep's job to declare it): only deploy.yml's jobs may deploy.
	{name: "other-workflow-claiming-production", fromPR: true, token: ids(claims{"event_name": "schedule", "ref": "refs/heads/main",
		"environment": "production", "job_workflow_ref": workflowRef("test-stacks.yml", "refs/heads/main")})},
	{name: "production-environment", token: ids(claims{"event_name": "push", "ref": "refs/heads/main", "environment": "production",
		"job_workflow_ref": workflowRef("deploy.yml", "refs/heads/main")})},
	{name: "deployer-dev", account: "pulumi-dev"},
	{name: "deployer-prod", account: "pulumi-prod"},
	{name: "previewer-prod", account: "pulumi-prod-preview"},
}

// everyAccountIn stands for every service account of a project, those no
// plan shows (a cluster's node account, default accounts) included: what
// a project-level role that impersonates or sets IAM on accounts reaches.
func everyAccountIn(project string) string { return "every account in " + project }

// reach is what a principal can do, summarised.
type reach struct {
	accounts   []string // account ids it can act as, and everyAccountIn(project)
	admin      []string // projects where it holds a role beyond reading
	read       []string // projects where it holds only read roles
	stateWrite []string // environments whose state bucket it can write
	stateRead  []string // environments whose state bucket it can only read
	encrypt    []string // environments whose secrets key it can encrypt with
	decrypt    []string // environments whose secrets key it can only decrypt with
}

var (
	devOnly = reach{accounts: []string{everyAccountIn("asyncjobs-dev"), "pulumi-dev", "pulumi-prod-preview"},
		admin: []string{"asyncjobs-dev"}, read: []string{"asyncjobs-prod"},
		stateWrite: []string{"dev"}, stateRead: []string{"prod"}, encrypt: []string{"dev"}, decrypt: []string{"prod"}}
	wantReach = map[string]reach{
		"pr-from-fork":                            {},
		"re-registered-name":                      {},
		"other-repository-same-owner":             {},
		"pr-from-branch":                          devOnly,
		"pr-claiming-production":                  devOnly,
		"branch-claiming-production":              devOnly,
		"pull-request-target-on-main":             {},
		"pull-request-target-claiming-production": {},
		"workflow-run-on-main":                    {},
		"main":                                    devOnly,
		"sweep":                                   devOnly,
		"other-workflow-claiming-production":      devOnly,
		"production-environment": {accounts: []string{everyAccountIn("asyncjobs-dev"), everyAccountIn("asyncjobs-prod"),
			"pulumi-dev", "pulumi-prod", "pulumi-prod-preview"},
			admin: []string{"asyncjobs-dev", "asyncjobs-prod"}, stateWrite: []string{"dev", "prod"}, encrypt: []string{"dev", "prod"}},
		"deployer-dev": {accounts: []string{everyAccountIn("asyncjobs-dev"), "pulumi-dev"}, admin: []string{"asyncjobs-dev"},
			stateWrite: []string{"dev"}, encrypt: []string{"dev"}},
		"deployer-prod": {accounts: []string{everyAccountIn("asyncjobs-prod"), "pulumi-prod"}, admin: []string{"asyncjobs-prod"},
			stateWrite: []string{"prod"}, encrypt: []string{"prod"}},
		"previewer-prod": {accounts: []string{"pulumi-prod-preview"}, read: []string{"asyncjobs-prod"}, stateRead: []string{"prod"}, decrypt: []string{"prod"}},
	}
)

// conditionEnv is the CEL environment of a workload identity pool
// provider's attribute condition: the token's claims as assertion.
var conditionEnv = func() *cel.Env {
	env, err := cel.NewEnv(cel.Variable("assertion", cel.MapType(cel.StringType, cel.StringType)))
	if err != nil {
		panic(err)
	}
	return env
}()

// admits evaluates an attribute condition with cel-go, the CEL
// implementation Google maintains, as Security Token Service does: the
// token is admitted when the condition is true. A claim the token lacks
// makes the condition fail to evaluate, which Google takes as a refusal;
// any other error (a condition that does not compile, or is not a
// boolean) fails the test.
func admits(t *testing.T, condition string, c claims) bool {
	t.Helper()
	ast, iss := conditionEnv.Compile(condition)
	if iss.Err() != nil {
		t.Fatalf("condition %q does not compile: %v", condition, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		t.Fatalf("condition %q is a %v, not a boolean", condition, ast.OutputType())
	}
	prg, err := conditionEnv.Program(ast)
	if err != nil {
		t.Fatalf("condition %q: %v", condition, err)
	}
	out, _, err := prg.Eval(map[string]any{"assertion": map[string]string(c)})
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return false
		}
		t.Fatalf("condition %q on %v: %v", condition, c, err)
	}
	admitted, ok := out.Value().(bool)
	if !ok {
		t.Fatalf("condition %q gave %v", condition, out)
	}
	return admitted
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

// The grant types the model follows, and what each names.
const (
	projectGrant = "gcp:projects/iAMMember:IAMMember"
	accountGrant = "gcp:serviceaccount/iAMMember:IAMMember"
	bucketGrant  = "gcp:storage/bucketIAMMember:BucketIAMMember"
	keyGrant     = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
	keyRingGrant = "gcp:kms/keyRingIAMMember:KeyRingIAMMember"
)

// grantsNothing are the other resource types the bootstrap may create:
// none of them gives anyone access to anything.
var grantsNothing = map[string]bool{
	"gcp:projects/service:Service":                                      true,
	"gcp:iam/workloadIdentityPool:WorkloadIdentityPool":                 true,
	"gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": true, // followed through its attribute condition
	"gcp:serviceaccount/account:Account":                                true,
	"gcp:storage/bucket:Bucket":                                         true,
	"gcp:kms/keyRing:KeyRing":                                           true,
	"gcp:kms/cryptoKey:CryptoKey":                                       true,
	"gcp:logging/metric:Metric":                                         true,
}

var followedGrants = map[string]bool{projectGrant: true, accountGrant: true, bucketGrant: true, keyGrant: true, keyRingGrant: true}

// looksLikeGrant reports whether a resource type sets IAM: an IAM member,
// binding or policy of any resource (folder, organization, managed folder,
// key ring, pool, ...), or an access control list.
func looksLikeGrant(typ string) bool {
	name := strings.ToLower(typ[strings.LastIndex(typ, ":")+1:])
	return (strings.Contains(name, "iam") && (strings.HasSuffix(name, "member") || strings.HasSuffix(name, "binding") || strings.HasSuffix(name, "policy"))) ||
		strings.Contains(name, "accesscontrol")
}

// unmodelled lists the plan's resources the model cannot account for:
// every grant type must be one it follows, and every other type one known
// to grant nothing.
func unmodelled(plan *recorder.Plan) []string {
	var out []string
	for _, r := range plan.Resources {
		switch {
		case followedGrants[r.Type]:
		case looksLikeGrant(r.Type):
			out = append(out, fmt.Sprintf("%s %s sets IAM, but the threat model does not follow %s grants: add it to followedGrants and to reachOf",
				r.Type, r.Name, r.Type))
		case !r.Custom:
			// Components (the stack itself) hold nothing.
		case !grantsNothing[r.Type]:
			out = append(out, fmt.Sprintf("%s %s is not in the threat model: classify its type (a grant the model follows, or one that grants nothing)", r.Type, r.Name))
		}
	}
	return out
}

// model indexes the plan's accounts, grants and what they reach.
type model struct {
	plan *recorder.Plan
	// account id -> its member string, its project
	member, project map[string]string
	// crypto key id -> the environment whose secrets it holds (the key is
	// named after it); key ring id -> the environments of its keys;
	// bucket name -> the environment whose state it holds (its label).
	keyEnv    map[string]string
	ringEnvs  map[string][]string
	bucketEnv map[string]string
}

// simulatedID is the id the recorder gave a resource.
func simulatedID(r *recorder.Resource) string {
	id, _ := recorder.Simulate(r.Type, r.Name, resource.NewPropertyMapFromMap(r.Inputs))
	return id
}

func newModel(t *testing.T, plan *recorder.Plan) *model {
	t.Helper()
	if bad := unmodelled(plan); len(bad) > 0 {
		t.Fatalf("the plan has what the threat model cannot follow:\n%s", strings.Join(bad, "\n"))
	}
	m := &model{plan: plan, member: map[string]string{}, project: map[string]string{},
		keyEnv: map[string]string{}, ringEnvs: map[string][]string{}, bucketEnv: map[string]string{}}
	for _, a := range plan.ByType("gcp:serviceaccount/account:Account") {
		id := str(t, a, "accountId")
		p := str(t, a, "project")
		m.member[id] = "serviceAccount:" + id + "@" + p + ".iam.gserviceaccount.com"
		m.project[id] = p
	}
	for _, k := range plan.ByType("gcp:kms/cryptoKey:CryptoKey") {
		env := str(t, k, "name")
		m.keyEnv[simulatedID(k)] = env
		ring := str(t, k, "keyRing")
		m.ringEnvs[ring] = append(m.ringEnvs[ring], env)
	}
	for _, b := range plan.ByType("gcp:storage/bucket:Bucket") {
		env, _ := b.Input("labels.environment")
		s, ok := env.(string)
		if !ok {
			t.Fatalf("bucket %s has no environment label", b.Name)
		}
		m.bucketEnv[str(t, b, "name")] = s
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

// keyEnvs are the environments whose secrets keys a KMS grant reaches:
// the key it is on, or every key of the ring it is on.
func (m *model) keyEnvs(t *testing.T, g *recorder.Resource) []string {
	t.Helper()
	switch g.Type {
	case keyGrant:
		env, ok := m.keyEnv[str(t, g, "cryptoKeyId")]
		if !ok {
			t.Fatalf("%s: grant on unknown key %s", g.Name, str(t, g, "cryptoKeyId"))
		}
		return []string{env}
	case keyRingGrant:
		envs, ok := m.ringEnvs[str(t, g, "keyRingId")]
		if !ok {
			t.Fatalf("%s: grant on unknown key ring %s", g.Name, str(t, g, "keyRingId"))
		}
		return envs
	}
	return nil
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
				accounts[id], changed = true, true
				if member, ok := m.member[id]; ok {
					members[member] = true
				}
			}
		}
		for _, g := range m.plan.ByType(accountGrant) {
			if members[str(t, g, "member")] && impersonatesAccount[str(t, g, "role")] {
				add(m.accountOf(t, str(t, g, "serviceAccountId")))
			}
		}
		for _, g := range m.plan.ByType(projectGrant) {
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
			project := str(t, g, "project")
			add(everyAccountIn(project))
			for id, proj := range m.project {
				if proj == project {
					add(id)
				}
			}
		}
	}

	var r reach
	admin, read := map[string]bool{}, map[string]bool{}
	for _, g := range m.plan.ByType(projectGrant) {
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
	sw, sr := map[string]bool{}, map[string]bool{}
	for _, g := range m.plan.ByType(bucketGrant) {
		if !members[str(t, g, "member")] {
			continue
		}
		env, ok := m.bucketEnv[str(t, g, "bucket")]
		if !ok {
			t.Fatalf("%s: grant on unknown bucket %s", g.Name, str(t, g, "bucket"))
		}
		if readOnly(str(t, g, "role")) || str(t, g, "role") == "roles/storage.objectViewer" {
			sr[env] = true
		} else {
			sw[env] = true
		}
	}
	for e := range sw {
		delete(sr, e)
	}
	enc, dec := map[string]bool{}, map[string]bool{}
	for _, g := range append(m.plan.ByType(keyGrant), m.plan.ByType(keyRingGrant)...) {
		if !members[str(t, g, "member")] {
			continue
		}
		for _, e := range m.keyEnvs(t, g) {
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
// what its row says (the example stack).
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

// bootstrapStack is one bootstrap/Pulumi.<name>.yaml, loaded and recorded.
type bootstrapStack struct {
	name string
	cfg  Config
	plan *recorder.Plan
}

// bootstrapStacks loads and records every bootstrap stack file, the
// example and each one a user added: the properties below hold for all.
func bootstrapStacks(t *testing.T) []bootstrapStack {
	t.Helper()
	out, err := loadBootstrapStacks(".")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(out, func(s bootstrapStack) bool { return s.name == "example" }) {
		t.Fatal("bootstrap/Pulumi.example.yaml is missing")
	}
	return out
}

// loadBootstrapStacks loads, validates and records each Pulumi.<name>.yaml
// of dir; a file the program refuses is an error naming it.
func loadBootstrapStacks(dir string) ([]bootstrapStack, error) {
	files, err := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []bootstrapStack
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml")
		st, err := stackfile.Load(dir, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		cfg, err := Load(st.Config)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		plan, err := recorder.Run(Program, recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, bootstrapStack{name: name, cfg: cfg, plan: plan})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Pulumi.*.yaml in %s", dir)
	}
	return out, nil
}

// TestEveryStackFileIsChecked: a stack file a user adds beside the example
// is recorded and checked like it, with its own ids, environments and
// workflow (its deploy jobs reach its deployer, nothing else does); one
// that leaves a production environment without githubEnvironment is
// refused, naming the file and the key.
func TestEveryStackFileIsChecked(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(name string) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("Pulumi.yaml")
	copyFile("Pulumi.example.yaml")
	mine := `config:
  gcp:project: mine-ci
  asyncjobs-bootstrap:repository: Other-Org/jobs
  asyncjobs-bootstrap:repositoryId: "42"
  asyncjobs-bootstrap:repositoryOwnerId: "43"
  asyncjobs-bootstrap:stateBucket: other-org-jobs-state
  asyncjobs-bootstrap:location: europe-west1
  asyncjobs-bootstrap:environments:
    qa:
      project: mine-qa
      unprotected: true
    live:
      project: mine-live
      githubEnvironment: live
      branch: release
      workflow: release.yml
`
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.mine.yaml"), []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	stacks, err := loadBootstrapStacks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(stacks) != 2 || stacks[1].name != "mine" {
		t.Fatalf("stacks %v, want example and mine", stacks)
	}
	st := stacks[1]
	for _, b := range pathsToProtected(t, st.cfg, st.plan, nil) {
		t.Error(b)
	}
	if n := len(attackers(st.cfg)); n < 10 {
		t.Errorf("only %d attackers for mine", n)
	}
	if jobs := deployJobs(st.cfg)["live"]; len(jobs) != 2 ||
		jobs[0].token["job_workflow_ref"] != "Other-Org/jobs/.github/workflows/release.yml@refs/heads/release" {
		t.Errorf("live's deploy jobs %v", jobs)
	}
	// The same file with live's protection left out.
	weak := strings.Replace(mine, "      githubEnvironment: live\n      branch: release\n      workflow: release.yml\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.mine.yaml"), []byte(weak), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadBootstrapStacks(dir); err == nil || !strings.Contains(err.Error(), "Pulumi.mine.yaml") ||
		!strings.Contains(err.Error(), "environments[live].githubEnvironment: Required value") {
		t.Errorf("a stack file with an unprotected live environment: err %v", err)
	}
}

// attackers are the tokens whose jobs a pull request controls, or that
// anyone can cause, for a configuration: for every protected environment,
// each way of claiming it that must fail, and the jobs of main that read
// pull-request-written state.
func attackers(cfg Config) []principal {
	base := func(extra claims) claims {
		c := claims{"repository": cfg.Repository, "repository_id": cfg.RepositoryID, "repository_owner_id": cfg.OwnerID}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	ref := func(file, r string) string { return WorkflowRef(cfg.Repository, file, r) }
	out := []principal{
		{name: "pull request", token: base(claims{"event_name": "pull_request", "ref": "refs/pull/7/merge",
			"job_workflow_ref": ref("pull-request.yml", "refs/pull/7/merge")})},
		{name: "push to main", token: base(claims{"event_name": "push", "ref": "refs/heads/main", "job_workflow_ref": ref(DeployWorkflow, "refs/heads/main")})},
		{name: "scheduled sweep", token: base(claims{"event_name": "schedule", "ref": "refs/heads/main",
			"job_workflow_ref": ref("test-stacks.yml", "refs/heads/main")})},
	}
	for _, envName := range slices.Sorted(maps.Keys(cfg.Environments)) {
		env := cfg.Environments[envName]
		if !env.Protected() {
			continue
		}
		branch := "refs/heads/" + env.Branch
		other := "refs/heads/feature"
		if other == branch {
			other = "refs/heads/other"
		}
		claim := func(name string, extra claims) principal {
			c := base(claims{"environment": env.GitHubEnvironment})
			for k, v := range extra {
				c[k] = v
			}
			return principal{name: name + " claiming " + env.GitHubEnvironment, token: c}
		}
		out = append(out,
			claim("pull request", claims{"event_name": "pull_request", "ref": "refs/pull/7/merge", "job_workflow_ref": ref(env.Workflow, "refs/pull/7/merge")}),
			claim("push to another branch", claims{"event_name": "push", "ref": other, "job_workflow_ref": ref(env.Workflow, other)}),
			claim("another workflow on "+env.Branch, claims{"event_name": "push", "ref": branch, "job_workflow_ref": ref("other.yml", branch)}),
			claim("scheduled job on "+env.Branch, claims{"event_name": "schedule", "ref": branch, "job_workflow_ref": ref(env.Workflow, branch)}),
			claim("pull_request_target on "+env.Branch, claims{"event_name": "pull_request_target", "ref": branch, "job_workflow_ref": ref(env.Workflow, branch)}),
			claim("workflow_run on "+env.Branch, claims{"event_name": "workflow_run", "ref": branch, "job_workflow_ref": ref(env.Workflow, branch)}),
			claim("issue_comment on "+env.Branch, claims{"event_name": "issue_comment", "ref": branch, "job_workflow_ref": ref(env.Workflow, branch)}),
		)
		otherRepo := principal{name: "another repository of the owner claiming " + env.GitHubEnvironment, token: claims{
			"repository": cfg.Repository + "-other", "repository_id": cfg.RepositoryID + "1", "repository_owner_id": cfg.OwnerID,
			"event_name": "push", "ref": branch, "environment": env.GitHubEnvironment,
			"job_workflow_ref": WorkflowRef(cfg.Repository+"-other", env.Workflow, branch)}}
		out = append(out, otherRepo)
	}
	return out
}

// deployJobs are the tokens of each protected environment's own deploy
// jobs (a push, a run by hand), which must reach its deployer.
func deployJobs(cfg Config) map[string][]principal {
	out := map[string][]principal{}
	for name, env := range cfg.Environments {
		if !env.Protected() {
			continue
		}
		branch := "refs/heads/" + env.Branch
		for _, event := range DeployEvents {
			out[name] = append(out[name], principal{name: event + " of " + env.Workflow + " in " + env.GitHubEnvironment, token: claims{
				"repository": cfg.Repository, "repository_id": cfg.RepositoryID, "repository_owner_id": cfg.OwnerID,
				"event_name": event, "ref": branch, "environment": env.GitHubEnvironment, "job_workflow_ref": WorkflowRef(cfg.Repository, env.Workflow, branch)}})
		}
	}
	return out
}

// reachesProtected says what of a protected environment a reach touches.
func reachesProtected(r reach, envName string, env Environment) []string {
	var out []string
	if slices.Contains(r.accounts, "pulumi-"+envName) {
		out = append(out, "acts as its deployer")
	}
	if slices.Contains(r.accounts, everyAccountIn(env.Project)) {
		out = append(out, "acts as every account of "+env.Project)
	}
	if slices.Contains(r.admin, env.Project) {
		out = append(out, "administers "+env.Project)
	}
	if slices.Contains(r.stateWrite, envName) {
		out = append(out, "writes its state")
	}
	if slices.Contains(r.encrypt, envName) {
		out = append(out, "encrypts with its key")
	}
	return out
}

// pathsToProtected lists every way a pull-request-influenced principal
// reaches a protected environment in a recorded bootstrap, and whether its
// own deploy jobs do (so that the check cannot pass on nothing).
func pathsToProtected(t *testing.T, cfg Config, plan *recorder.Plan, extra []principal) (bad []string) {
	t.Helper()
	m := newModel(t, plan)
	from := append(attackers(cfg), extra...)
	for _, envName := range slices.Sorted(maps.Keys(cfg.Environments)) {
		env := cfg.Environments[envName]
		if !env.Protected() {
			continue
		}
		for _, p := range from {
			if what := reachesProtected(m.reachOf(t, p), envName, env); len(what) > 0 {
				bad = append(bad, fmt.Sprintf("%s reaches %s: %s", p.name, envName, strings.Join(what, ", ")))
			}
		}
		for _, p := range deployJobs(cfg)[envName] {
			if !slices.Contains(m.reachOf(t, p).accounts, "pulumi-"+envName) {
				bad = append(bad, fmt.Sprintf("%s does not reach %s's deployer: the check would pass on nothing", p.name, envName))
			}
		}
		for _, g := range plan.ByType(accountGrant) {
			if m.accountOf(t, str(t, g, "serviceAccountId")) == "pulumi-"+envName &&
				str(t, g, "member") != poolPrefix+cfg.PoolID+"-"+envName+"/attribute.repository_id/"+cfg.RepositoryID {
				bad = append(bad, fmt.Sprintf("%s: %s on %s's deployer for %s", g.Name, str(t, g, "role"), envName, str(t, g, "member")))
			}
		}
	}
	for _, g := range plan.ByType(projectGrant) {
		if str(t, g, "project") == cfg.Project {
			bad = append(bad, fmt.Sprintf("%s: %s on the host project", g.Name, str(t, g, "role")))
		}
	}
	return bad
}

// TestNoPathFromAPullRequestToProduction, for every bootstrap stack file:
// no principal whose code or data a pull request controls (the rows of
// docs/threat-model.md marked so, and for each protected environment every
// way of claiming it from a pull request, another branch, another
// workflow, another event or another repository of the owner) can act as
// a protected environment's deployer or every account of its project,
// hold any role beyond reading on its project, write its state or encrypt
// with its key; nothing but the environment's own pool is granted on its
// deployer account (no setIamPolicy, token creator or workloadIdentityUser
// for anyone else), while no role at all is granted on the host project.
func TestNoPathFromAPullRequestToProduction(t *testing.T) {
	for _, st := range bootstrapStacks(t) {
		t.Run(st.name, func(t *testing.T) {
			var rows []principal
			if st.name == "example" {
				for _, p := range principals {
					if p.fromPR {
						rows = append(rows, p)
					}
				}
			}
			for _, b := range pathsToProtected(t, st.cfg, st.plan, rows) {
				t.Error(b)
			}
		})
	}
}

// TestEveryGrantIsModelled, for every bootstrap stack file: every resource
// that sets IAM is of a type the threat model follows (project, account,
// bucket, key and key ring members), every other type is known to grant
// nothing, and a grant the model does not follow (a folder's, an
// organization's, a managed folder's) is reported.
func TestEveryGrantIsModelled(t *testing.T) {
	for _, st := range bootstrapStacks(t) {
		if bad := unmodelled(st.plan); len(bad) > 0 {
			t.Errorf("%s:\n%s", st.name, strings.Join(bad, "\n"))
		}
	}
	plan := recordExample(t)
	for _, typ := range []string{
		"gcp:folder/iAMMember:IAMMember", "gcp:organizations/iAMMember:IAMMember",
		"gcp:storage/managedFolderIamMember:ManagedFolderIamMember", "gcp:iam/workloadIdentityPoolIamMember:WorkloadIdentityPoolIamMember",
		"gcp:storage/bucketAccessControl:BucketAccessControl", "gcp:compute/instance:Instance",
	} {
		extended := *plan
		extended.Resources = append(slices.Clone(plan.Resources), &recorder.Resource{Type: typ, Name: "injected", Custom: true})
		if bad := unmodelled(&extended); len(bad) != 1 {
			t.Errorf("a %s in the plan: reported %v, want one problem", typ, bad)
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
