package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

const (
	repo       = "my-org/asyncjobs"
	repoID     = "123456789"
	ownerID    = "987654321"
	host       = "asyncjobs-ci"
	poolPrefix = "principalSet://iam.googleapis.com/projects/" + recorder.PlaceholderProjectNumber + "/locations/global/workloadIdentityPools/"
)

// recordExample records the example stack as a deployment would see it
// (simulated e-mails and ids, so members are known values).
func recordExample(t *testing.T) *recorder.Plan {
	t.Helper()
	st, err := stackfile.Load(".", "example")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := recorder.Run(Program, recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys})
	if err != nil {
		t.Fatalf("example stack: %v", err)
	}
	return plan
}

func str(t *testing.T, r *recorder.Resource, path string) string {
	t.Helper()
	v, ok := r.Input(path)
	s, isStr := v.(string)
	if !ok || !isStr {
		t.Fatalf("%s %s: input %s = %#v, want a string", r.Type, r.Name, path, v)
	}
	return s
}

func TestPoolsTrustOnlyTheRepository(t *testing.T) {
	plan := recordExample(t)
	providers := plan.ByType("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
	if len(providers) != 2 {
		t.Fatalf("%d pool providers, want 2 (the repository's, prod's)", len(providers))
	}
	byIDs := `assertion.repository_id == "` + repoID + `" && assertion.repository_owner_id == "` + ownerID + `"`
	for _, p := range providers {
		cond := str(t, p, "attributeCondition")
		if !strings.HasPrefix(cond, byIDs) {
			t.Errorf("%s: attribute condition %q does not start with the repository's and owner's numeric ids", p.Name, cond)
		}
		if strings.Contains(cond, "assertion.repository ==") {
			t.Errorf("%s: attribute condition %q trusts a repository name", p.Name, cond)
		}
		if v, _ := p.Input("oidc.issuerUri"); v != GitHubIssuer {
			t.Errorf("%s: issuer %v", p.Name, v)
		}
		mapping, _ := p.Input("attributeMapping")
		m, _ := mapping.(map[string]any)
		if m["google.subject"] != "assertion.sub" || m["attribute.repository_id"] != "assertion.repository_id" {
			t.Errorf("%s: attribute mapping %v", p.Name, m)
		}
	}
	// Production: deploy.yml's jobs in the environment, on main, started
	// by a push or by hand; the repository's pool: the events of the
	// workflows that authenticate, never pull_request_target,
	// workflow_run or issue_comment.
	prod := plantest.Find(t, plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider", "github-prod")
	if got, want := str(t, prod, "attributeCondition"), byIDs+` && assertion.event_name in ["push", "workflow_dispatch"]`+
		` && assertion.environment == "production" && assertion.ref == "refs/heads/main"`+
		` && assertion.job_workflow_ref == "my-org/asyncjobs/.github/workflows/deploy.yml@refs/heads/main"`; got != want {
		t.Errorf("prod condition %q, want %q", got, want)
	}
	dev := plantest.Find(t, plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider", "github")
	if got, want := str(t, dev, "attributeCondition"), byIDs+` && assertion.event_name in ["pull_request", "push", "schedule", "workflow_dispatch"]`; got != want {
		t.Errorf("repository condition %q, want %q", got, want)
	}
	plantest.Input(t, plantest.Find(t, plan, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool", "github-prod"), "workloadIdentityPoolId", "github-prod")
}

func TestIdentities(t *testing.T) {
	plan := recordExample(t)
	member := func(id string) string {
		return "serviceAccount:" + id + "@" + host + ".iam.gserviceaccount.com"
	}
	// Roles on the environment projects, by member.
	got := map[string][]string{}
	for _, r := range plan.ByType("gcp:projects/iAMMember:IAMMember") {
		role := str(t, r, "role")
		switch role {
		case "roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator", "roles/iam.workloadIdentityUser",
			"roles/owner", "roles/editor", "roles/iam.securityAdmin":
			t.Errorf("%s: project-level %s", r.Name, role)
		case "roles/resourcemanager.projectIamAdmin":
			// Only conditioned to the GKE node role.
			want := "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/container.defaultNodeServiceAccount'])"
			if v, _ := r.Input("condition.expression"); v != want {
				t.Errorf("%s: %s with condition %v, want %s", r.Name, role, v, want)
			}
		}
		if p := str(t, r, "project"); p == host {
			t.Errorf("%s: %s on the host project %s", r.Name, role, host)
		}
		key := str(t, r, "project") + " " + str(t, r, "member")
		got[key] = append(got[key], role)
	}
	names := func(rs []Role) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		sort.Strings(out)
		return out
	}
	want := map[string][]string{
		"asyncjobs-dev " + member("pulumi-dev"):           names(Environment{}.DeployerRoles()),
		"asyncjobs-prod " + member("pulumi-prod"):         names(Environment{CreatesCluster: true}.DeployerRoles()),
		"asyncjobs-prod " + member("pulumi-prod-preview"): names(PreviewerRoles),
	}
	for k := range got {
		sort.Strings(got[k])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("project roles:\n got %v\nwant %v", got, want)
	}
	for _, r := range got["asyncjobs-dev "+member("pulumi-dev")] {
		if r == "roles/container.clusterAdmin" || r == "roles/resourcemanager.projectIamAdmin" {
			t.Errorf("dev (an existing cluster) gets %s", r)
		}
	}
	for _, r := range append(append([]Role{}, DeployerRoles...), PreviewerRoles...) {
		if r.Why == "" {
			t.Errorf("%s has no reason", r.Name)
		}
	}

	// Workload identity: each account trusts exactly one pool's tokens from
	// the repository (by id); nothing else is granted on service accounts.
	wif := map[string]string{}
	for _, r := range plan.ByType("gcp:serviceaccount/iAMMember:IAMMember") {
		if role := str(t, r, "role"); role != "roles/iam.workloadIdentityUser" {
			t.Errorf("%s: %s on a service account", r.Name, role)
		}
		wif[str(t, r, "serviceAccountId")] = str(t, r, "member")
	}
	account := func(id string) string {
		return "projects/" + host + "/serviceAccounts/" + id + "@" + host + ".iam.gserviceaccount.com"
	}
	wantWIF := map[string]string{
		account("pulumi-dev"):          poolPrefix + "github/attribute.repository_id/" + repoID,
		account("pulumi-prod"):         poolPrefix + "github-prod/attribute.repository_id/" + repoID,
		account("pulumi-prod-preview"): poolPrefix + "github/attribute.repository_id/" + repoID,
	}
	if !reflect.DeepEqual(wif, wantWIF) {
		t.Errorf("workloadIdentityUser grants:\n got %v\nwant %v", wif, wantWIF)
	}
	for _, a := range plan.ByType("gcp:serviceaccount/account:Account") {
		plantest.Input(t, a, "project", host)
	}

	// No keys, no authoritative IAM anywhere.
	for _, r := range plan.Resources {
		lower := strings.ToLower(r.Type)
		if strings.HasSuffix(lower, "/key:key") || strings.HasSuffix(lower, "iambinding") || strings.HasSuffix(lower, "iampolicy") {
			t.Errorf("%s %s: keys and authoritative IAM are never created", r.Type, r.Name)
		}
	}
}

func TestStateBucketAndKeys(t *testing.T) {
	plan := recordExample(t)
	for _, env := range []string{"dev", "prod"} {
		bucket := plantest.Find(t, plan, "gcp:storage/bucket:Bucket", "state-"+env)
		plantest.Inputs(t, bucket, map[string]any{
			"name":                     "my-org-asyncjobs-pulumi-state-" + env,
			"project":                  host,
			"location":                 "ASIA-NORTHEAST1",
			"uniformBucketLevelAccess": true,
			"publicAccessPrevention":   "enforced",
			"versioning.enabled":       true,
			"forceDestroy":             false,
		})
		if !bucket.Protect {
			t.Errorf("the state bucket of %s is not protected", env)
		}
	}
	if n := len(plan.ByType("gcp:storage/bucket:Bucket")); n != 2 {
		t.Errorf("%d buckets, want one per environment", n)
	}
	bucketGrants := map[string]string{}
	for _, r := range plan.ByType("gcp:storage/bucketIAMMember:BucketIAMMember") {
		bucketGrants[str(t, r, "bucket")+" "+str(t, r, "member")] = str(t, r, "role")
	}
	sa := func(id string) string { return "serviceAccount:" + id + "@" + host + ".iam.gserviceaccount.com" }
	wantBucket := map[string]string{
		"my-org-asyncjobs-pulumi-state-dev " + sa("pulumi-dev"):           "roles/storage.objectUser",
		"my-org-asyncjobs-pulumi-state-prod " + sa("pulumi-prod"):         "roles/storage.objectUser",
		"my-org-asyncjobs-pulumi-state-prod " + sa("pulumi-prod-preview"): "roles/storage.objectViewer",
	}
	if !reflect.DeepEqual(bucketGrants, wantBucket) {
		t.Errorf("bucket grants:\n got %v\nwant %v", bucketGrants, wantBucket)
	}

	keys := plan.ByType("gcp:kms/cryptoKey:CryptoKey")
	if len(keys) != 2 {
		t.Fatalf("%d keys, want one per environment", len(keys))
	}
	for _, k := range keys {
		plantest.Inputs(t, k, map[string]any{"rotationPeriod": KeyRotation, "purpose": "ENCRYPT_DECRYPT"})
		if !k.Protect {
			t.Errorf("key %s is not protected", k.Name)
		}
	}
	keyGrants := map[string]string{}
	for _, r := range plan.ByType("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") {
		keyGrants[r.Name] = str(t, r, "role")
		// Each grant is on its own environment's key.
		env := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(r.Name, "deployer-"), "previewer-"), "-secrets")
		if deps := strings.Join(r.Dependencies, " "); !strings.Contains(deps, "secrets-"+env) {
			t.Errorf("%s does not depend on key secrets-%s: %v", r.Name, env, r.Dependencies)
		}
	}
	wantKeys := map[string]string{
		"deployer-dev-secrets":   "roles/cloudkms.cryptoKeyEncrypterDecrypter",
		"deployer-prod-secrets":  "roles/cloudkms.cryptoKeyEncrypterDecrypter",
		"previewer-prod-secrets": "roles/cloudkms.cryptoKeyDecrypter",
	}
	if !reflect.DeepEqual(keyGrants, wantKeys) {
		t.Errorf("key grants:\n got %v\nwant %v", keyGrants, wantKeys)
	}

	vars, _ := plan.Outputs["githubVariables"].(map[string]any)
	for k, want := range map[string]string{
		"PULUMI_BACKEND_URL_DEV":           "gs://my-org-asyncjobs-pulumi-state-dev",
		"PULUMI_BACKEND_URL_PROD":          "gs://my-org-asyncjobs-pulumi-state-prod",
		"PULUMI_SECRETS_PROVIDER_DEV":      "gcpkms://projects/" + host + "/locations/asia-northeast1/keyRings/pulumi/cryptoKeys/dev",
		"PULUMI_SECRETS_PROVIDER_PROD":     "gcpkms://projects/" + host + "/locations/asia-northeast1/keyRings/pulumi/cryptoKeys/prod",
		"GCP_SERVICE_ACCOUNT_DEV":          "pulumi-dev@" + host + ".iam.gserviceaccount.com",
		"GCP_SERVICE_ACCOUNT_PROD":         "pulumi-prod@" + host + ".iam.gserviceaccount.com",
		"GCP_SERVICE_ACCOUNT_PROD_PREVIEW": "pulumi-prod-preview@" + host + ".iam.gserviceaccount.com",
	} {
		if vars[k] != want {
			t.Errorf("githubVariables.%s = %v, want %s", k, vars[k], want)
		}
	}
	for _, k := range []string{"GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_WORKLOAD_IDENTITY_PROVIDER_PROD"} {
		if _, ok := vars[k]; !ok {
			t.Errorf("githubVariables lacks %s", k)
		}
	}
}

// TestInvalidConfig: every mistake is reported with its key, and nothing
// is registered.
func TestInvalidConfig(t *testing.T) {
	base := map[string]string{
		"gcp:project":                           "asyncjobs-ci",
		"asyncjobs-bootstrap:repository":        repo,
		"asyncjobs-bootstrap:repositoryId":      repoID,
		"asyncjobs-bootstrap:repositoryOwnerId": ownerID,
		"asyncjobs-bootstrap:stateBucket":       "state-bucket",
		"asyncjobs-bootstrap:location":          "asia-northeast1",
		"asyncjobs-bootstrap:environments":      `{"dev":{"project":"asyncjobs-dev","unprotected":true}}`,
		"asyncjobs-bootstrap:protect":           "true",
		"asyncjobs-bootstrap:poolId":            "github",
		"gcp:region":                            "ignored-other-namespace",
	}
	for _, tc := range []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"no repository", map[string]string{"asyncjobs-bootstrap:repository": ""}, []string{"asyncjobs-bootstrap:repository: Required value"}},
		{"repository with a quote", map[string]string{"asyncjobs-bootstrap:repository": `my-org/x" || true || "`},
			[]string{"asyncjobs-bootstrap:repository: Invalid value"}},
		{"repository without owner", map[string]string{"asyncjobs-bootstrap:repository": "asyncjobs"}, []string{"owner/name"}},
		{"bad bucket", map[string]string{"asyncjobs-bootstrap:stateBucket": "Google-State"}, []string{"asyncjobs-bootstrap:stateBucket: Invalid value"}},
		{"no location", map[string]string{"asyncjobs-bootstrap:location": ""}, []string{"asyncjobs-bootstrap:location: Required value"}},
		{"no environments", map[string]string{"asyncjobs-bootstrap:environments": `{}`}, []string{"asyncjobs-bootstrap:environments: Required value"}},
		{"bad environment name", map[string]string{"asyncjobs-bootstrap:environments": `{"Prod!":{"project":"asyncjobs-dev"}}`},
			[]string{"asyncjobs-bootstrap:environments[Prod!]: Invalid value"}},
		{"environment with a quote",
			map[string]string{"asyncjobs-bootstrap:environments": `{"prod":{"project":"asyncjobs-prod","githubEnvironment":"prod\" || true"}}`},
			[]string{"environments[prod].githubEnvironment: Invalid value"}},
		{"branch without environment", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"asyncjobs-dev","branch":"main"}}`},
			[]string{"environments[dev].branch: Invalid value"}},
		{"bad environment project", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"X"}}`},
			[]string{"environments[dev].project: Invalid value"}},
		{"no environment project", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{}}`}, []string{"environments[dev].project: Required value"}},
		{"environment in the host project", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"asyncjobs-dev"},` +
			`"prod":{"project":"asyncjobs-ci","githubEnvironment":"production"}}`},
			[]string{"environments[prod].project: Invalid value: \"asyncjobs-ci\": is the host project asyncjobs-ci (gcp:project)"}},
		{"environments sharing a project", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"asyncjobs-app"},` +
			`"prod":{"project":"asyncjobs-app","githubEnvironment":"production"}}`},
			[]string{"environments[prod].project: Invalid value: \"asyncjobs-app\": is also environment dev's project"}},
		{"createsCluster not a bool", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"asyncjobs-dev","createsCluster":"yes"}}`},
			[]string{"environments[dev].createsCluster"}},
		{"no repository id", map[string]string{"asyncjobs-bootstrap:repositoryId": ""}, []string{"asyncjobs-bootstrap:repositoryId: Required value"}},
		{"repository id not digits", map[string]string{"asyncjobs-bootstrap:repositoryId": `1" || true || "`},
			[]string{"asyncjobs-bootstrap:repositoryId: Invalid value"}},
		{"no owner id", map[string]string{"asyncjobs-bootstrap:repositoryOwnerId": ""}, []string{"asyncjobs-bootstrap:repositoryOwnerId: Required value"}},
		{"owner id not digits", map[string]string{"asyncjobs-bootstrap:repositoryOwnerId": "my-org"},
			[]string{"asyncjobs-bootstrap:repositoryOwnerId: Invalid value"}},
		{"state bucket too long for an environment", map[string]string{"asyncjobs-bootstrap:stateBucket": strings.Repeat("a", 60)},
			[]string{"environments[dev]: Invalid value: \"dev\": state bucket"}},
		{"unknown key", map[string]string{"asyncjobs-bootstrap:repositry": repo},
			[]string{`asyncjobs-bootstrap:repositry: Not found: unknown key (did you mean "repository"?)`}},
		{"unknown environment key", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"asyncjobs-dev","projct":"a"}}`},
			[]string{`environments[dev].projct: Not found`}},
		{"wrong type", map[string]string{"asyncjobs-bootstrap:environments": `["dev"]`}, []string{"asyncjobs-bootstrap:environments: Invalid value"}},
		{"bad pool", map[string]string{"asyncjobs-bootstrap:poolId": "gcp-pool"}, []string{"asyncjobs-bootstrap:poolId: Invalid value"}},
		{"no project", map[string]string{"gcp:project": ""}, []string{"gcp:project: Invalid value"}},
		// A production environment without its GitHub environment would
		// trust every branch pull request: an omission is refused, only an
		// explicit unprotected: true allows it.
		{"environment neither protected nor unprotected",
			map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"asyncjobs-dev","unprotected":true},` +
				`"prod":{"project":"asyncjobs-prod","createsCluster":true}}`},
			[]string{"environments[prod].githubEnvironment: Required value", "every branch pull request", "unprotected: true"}},
		{"protected and unprotected",
			map[string]string{"asyncjobs-bootstrap:environments": `{"prod":{"project":"asyncjobs-prod","githubEnvironment":"production","unprotected":true}}`},
			[]string{"environments[prod].unprotected: Invalid value: true: contradicts githubEnvironment production"}},
		{"workflow without environment",
			map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"asyncjobs-dev","unprotected":true,"workflow":"deploy.yml"}}`},
			[]string{"environments[dev].workflow: Invalid value"}},
		{"workflow with a quote", map[string]string{"asyncjobs-bootstrap:environments": `{"prod":{"project":"asyncjobs-prod","githubEnvironment":"production",` +
			`"workflow":"x\" || true || \".yml"}}`},
			[]string{"environments[prod].workflow: Invalid value"}},
		{"workflow not a file name",
			map[string]string{"asyncjobs-bootstrap:environments": `{"prod":{"project":"asyncjobs-prod","githubEnvironment":"production","workflow":"../deploy.yml"}}`},
			[]string{"environments[prod].workflow: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{}
			for k, v := range base {
				cfg[k] = v
			}
			for k, v := range tc.set {
				if v == "" && k != "gcp:project" {
					delete(cfg, k)
					continue
				}
				cfg[k] = v
			}
			plan, err := recorder.Run(Program, recorder.Options{Project: Namespace, Stack: "test", Config: cfg, Preview: true})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if len(plan.Resources) != 0 {
				t.Errorf("%d resources registered for an invalid configuration", len(plan.Resources))
			}
		})
	}
	// The base itself is valid.
	if _, err := recorder.Run(Program, recorder.Options{Project: Namespace, Stack: "test", Config: base, Preview: true}); err != nil {
		t.Errorf("valid base configuration rejected: %v", err)
	}
}

// TestProjectDeclaresEveryKey keeps Pulumi.yaml in step with Config.
func TestProjectDeclaresEveryKey(t *testing.T) {
	project, err := workspace.LoadProject(filepath.Join(".", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(project.Name) != Namespace || project.Runtime.Name() != "go" {
		t.Errorf("project %s runtime %s, want %s on go", project.Name, project.Runtime.Name(), Namespace)
	}
	declared := map[string]bool{}
	for k, v := range project.Config {
		declared[k] = true
		if v.Description == "" {
			t.Errorf("%s has no description", k)
		}
	}
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if !declared[Namespace+":"+name] {
			t.Errorf("Pulumi.yaml does not declare %s:%s", Namespace, name)
		}
		delete(declared, Namespace+":"+name)
		if f.Tag.Get("doc") == "" {
			t.Errorf("Config.%s has no doc tag", f.Name)
		}
	}
	for k := range declared {
		t.Errorf("Pulumi.yaml declares %s, which the program does not read", k)
	}
}

// TestStackFilesMatchTheExample: each stack file of the main program names
// its environment's deployer (from the example bootstrap) in
// asyncjobs:deployers, so the stack grants it actAs on the accounts it
// attaches (the worker's, a created cluster's nodes); an environment gets
// the cluster-creating roles exactly when its stack creates its cluster;
// and the bootstrap makes the completions metric in the project where the
// stack's cluster runs.
func TestStackFilesMatchTheExample(t *testing.T) {
	plan := recordExample(t)
	vars, _ := plan.Outputs["githubVariables"].(map[string]any)
	example, err := stackfile.Load(".", "example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(example.Config)
	if err != nil {
		t.Fatal(err)
	}
	for name, env := range cfg.Environments {
		st, err := stackfile.Load("..", name)
		if err != nil {
			t.Fatalf("environment %s has no stack file: %v", name, err)
		}
		var deployers []string
		if err := json.Unmarshal([]byte(st.Config["asyncjobs:deployers"]), &deployers); err != nil {
			t.Fatalf("%s: asyncjobs:deployers: %v", name, err)
		}
		want := "serviceAccount:" + fmt.Sprint(vars["GCP_SERVICE_ACCOUNT_"+strings.ToUpper(name)])
		if !slices.Contains(deployers, want) {
			t.Errorf("Pulumi.%s.yaml asyncjobs:deployers %v lacks %s", name, deployers, want)
		}
		if got := st.Config["gcp:project"]; got != env.Project {
			t.Errorf("Pulumi.%s.yaml deploys to %s, the bootstrap's %s environment to %s", name, got, name, env.Project)
		}
		var gke struct {
			Create bool `json:"create"`
		}
		_ = json.Unmarshal([]byte(st.Config["asyncjobs:gke"]), &gke)
		if gke.Create != env.CreatesCluster {
			t.Errorf("Pulumi.%s.yaml gke.create = %v, the bootstrap's createsCluster = %v", name, gke.Create, env.CreatesCluster)
		}
		// The stack's overdue alerts read the completions metric of its
		// cluster's project, which the bootstrap creates there.
		stack, err := stacks.Load(name, stacks.Source(st.Config))
		if err != nil {
			t.Fatalf("Pulumi.%s.yaml: %v", name, err)
		}
		if got := stack.ClusterProject(); got != env.ClusterProjectID() {
			t.Errorf("Pulumi.%s.yaml runs its cluster in %s, the bootstrap's %s environment in %s (clusterProject)", name, got, name, env.ClusterProjectID())
		}
		if !slices.Contains(cfg.ClusterProjects(), stack.ClusterProject()) {
			t.Errorf("the bootstrap creates no completions metric in %s, where Pulumi.%s.yaml's cluster runs", stack.ClusterProject(), name)
		}
	}
}

// TestEveryResourceProtected: with protect (the default) every resource is
// protected, not only the data: the engine deletes what is unprotected
// before it refuses the rest, and a destroy that took the deployer
// accounts, their grants and the pools would cut every workflow off
// (the rehearsal's TestBootstrap shows the refused destroy deleting
// nothing). With protect: false nothing is.
func TestEveryResourceProtected(t *testing.T) {
	plan := recordExample(t)
	n := 0
	for _, r := range plan.Resources {
		if !r.Custom {
			continue
		}
		n++
		if !r.Protect {
			t.Errorf("%s is not protected", r.URN)
		}
	}
	if n < 40 {
		t.Errorf("only %d resources in the example's plan", n)
	}
	cfg := exampleConfig(t)
	cfg.Protect = false
	for _, r := range recordConfig(t, cfg).Resources {
		if r.Protect {
			t.Errorf("%s is protected with protect: false", r.URN)
		}
	}
}
