package main

import (
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/asyncjobs/asyncjobs/internal/plantest"
	"github.com/asyncjobs/asyncjobs/internal/recorder"
	"github.com/asyncjobs/asyncjobs/internal/stackfile"
)

const (
	repo       = "my-org/asyncjobs"
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
	for _, p := range providers {
		cond := str(t, p, "attributeCondition")
		if !strings.HasPrefix(cond, `assertion.repository == "`+repo+`"`) {
			t.Errorf("%s: attribute condition %q does not start by naming the repository", p.Name, cond)
		}
		if v, _ := p.Input("oidc.issuerUri"); v != GitHubIssuer {
			t.Errorf("%s: issuer %v", p.Name, v)
		}
		mapping, _ := p.Input("attributeMapping")
		m, _ := mapping.(map[string]any)
		if m["google.subject"] != "assertion.sub" || m["attribute.repository"] != "assertion.repository" {
			t.Errorf("%s: attribute mapping %v", p.Name, m)
		}
	}
	prod := plantest.Find(t, plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider", "github-prod")
	if got, want := str(t, prod, "attributeCondition"), `assertion.repository == "my-org/asyncjobs" && assertion.environment == "production" && assertion.ref == "refs/heads/main"`; got != want {
		t.Errorf("prod condition %q, want %q", got, want)
	}
	dev := plantest.Find(t, plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider", "github")
	if got := str(t, dev, "attributeCondition"); got != `assertion.repository == "my-org/asyncjobs"` {
		t.Errorf("repository condition %q", got)
	}
	plantest.Input(t, plantest.Find(t, plan, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool", "github-prod"), "workloadIdentityPoolId", "github-prod")
}

func TestIdentities(t *testing.T) {
	plan := recordExample(t)
	member := func(id string) string {
		return "serviceAccount:" + id + "@asyncjobs-dev.iam.gserviceaccount.com"
	}
	// Roles on the environment projects, by member.
	got := map[string][]string{}
	for _, r := range plan.ByType("gcp:projects/iAMMember:IAMMember") {
		role := str(t, r, "role")
		switch role {
		case "roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator", "roles/iam.workloadIdentityUser",
			"roles/owner", "roles/editor", "roles/iam.securityAdmin", "roles/resourcemanager.projectIamAdmin":
			t.Errorf("%s: project-level %s", r.Name, role)
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
		"asyncjobs-dev " + member("pulumi-dev"):           names(DeployerRoles),
		"asyncjobs-prod " + member("pulumi-prod"):         names(DeployerRoles),
		"asyncjobs-prod " + member("pulumi-prod-preview"): names(PreviewerRoles),
	}
	for k := range got {
		sort.Strings(got[k])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("project roles:\n got %v\nwant %v", got, want)
	}
	for _, r := range append(append([]Role{}, DeployerRoles...), PreviewerRoles...) {
		if r.Why == "" {
			t.Errorf("%s has no reason", r.Name)
		}
	}

	// Workload identity: each account trusts exactly one pool's tokens from
	// the repository; nothing else is granted on service accounts.
	wif := map[string]string{}
	for _, r := range plan.ByType("gcp:serviceaccount/iAMMember:IAMMember") {
		if role := str(t, r, "role"); role != "roles/iam.workloadIdentityUser" {
			t.Errorf("%s: %s on a service account", r.Name, role)
		}
		wif[str(t, r, "serviceAccountId")] = str(t, r, "member")
	}
	account := func(id string) string {
		return "projects/asyncjobs-dev/serviceAccounts/" + id + "@asyncjobs-dev.iam.gserviceaccount.com"
	}
	wantWIF := map[string]string{
		account("pulumi-dev"):          poolPrefix + "github/attribute.repository/" + repo,
		account("pulumi-prod"):         poolPrefix + "github-prod/attribute.repository/" + repo,
		account("pulumi-prod-preview"): poolPrefix + "github/attribute.repository/" + repo,
	}
	if !reflect.DeepEqual(wif, wantWIF) {
		t.Errorf("workloadIdentityUser grants:\n got %v\nwant %v", wif, wantWIF)
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
	bucket := plantest.Find(t, plan, "gcp:storage/bucket:Bucket", "state")
	plantest.Inputs(t, bucket, map[string]any{
		"name":                     "my-org-asyncjobs-pulumi-state",
		"location":                 "ASIA-NORTHEAST1",
		"uniformBucketLevelAccess": true,
		"publicAccessPrevention":   "enforced",
		"versioning.enabled":       true,
		"forceDestroy":             false,
	})
	if !bucket.Protect {
		t.Error("the state bucket is not protected")
	}
	bucketGrants := map[string]string{}
	for _, r := range plan.ByType("gcp:storage/bucketIAMMember:BucketIAMMember") {
		bucketGrants[str(t, r, "member")] = str(t, r, "role")
	}
	wantBucket := map[string]string{
		"serviceAccount:pulumi-dev@asyncjobs-dev.iam.gserviceaccount.com":          "roles/storage.objectUser",
		"serviceAccount:pulumi-prod@asyncjobs-dev.iam.gserviceaccount.com":         "roles/storage.objectUser",
		"serviceAccount:pulumi-prod-preview@asyncjobs-dev.iam.gserviceaccount.com": "roles/storage.objectViewer",
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
		"PULUMI_BACKEND_URL":               "gs://my-org-asyncjobs-pulumi-state",
		"PULUMI_SECRETS_PROVIDER_DEV":      "gcpkms://projects/asyncjobs-dev/locations/asia-northeast1/keyRings/pulumi/cryptoKeys/dev",
		"PULUMI_SECRETS_PROVIDER_PROD":     "gcpkms://projects/asyncjobs-dev/locations/asia-northeast1/keyRings/pulumi/cryptoKeys/prod",
		"GCP_SERVICE_ACCOUNT_DEV":          "pulumi-dev@asyncjobs-dev.iam.gserviceaccount.com",
		"GCP_SERVICE_ACCOUNT_PROD":         "pulumi-prod@asyncjobs-dev.iam.gserviceaccount.com",
		"GCP_SERVICE_ACCOUNT_PROD_PREVIEW": "pulumi-prod-preview@asyncjobs-dev.iam.gserviceaccount.com",
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
		"gcp:project":                      "asyncjobs-dev",
		"asyncjobs-bootstrap:repository":   repo,
		"asyncjobs-bootstrap:stateBucket":  "state-bucket",
		"asyncjobs-bootstrap:location":     "asia-northeast1",
		"asyncjobs-bootstrap:environments": `{"dev":{}}`,
		"asyncjobs-bootstrap:protect":      "true",
		"asyncjobs-bootstrap:poolId":       "github",
		"gcp:region":                       "ignored-other-namespace",
	}
	for _, tc := range []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"no repository", map[string]string{"asyncjobs-bootstrap:repository": ""}, []string{"asyncjobs-bootstrap:repository: Required value"}},
		{"repository with a quote", map[string]string{"asyncjobs-bootstrap:repository": `my-org/x" || true || "`}, []string{"asyncjobs-bootstrap:repository: Invalid value"}},
		{"repository without owner", map[string]string{"asyncjobs-bootstrap:repository": "asyncjobs"}, []string{"owner/name"}},
		{"bad bucket", map[string]string{"asyncjobs-bootstrap:stateBucket": "Google-State"}, []string{"asyncjobs-bootstrap:stateBucket: Invalid value"}},
		{"no location", map[string]string{"asyncjobs-bootstrap:location": ""}, []string{"asyncjobs-bootstrap:location: Required value"}},
		{"no environments", map[string]string{"asyncjobs-bootstrap:environments": `{}`}, []string{"asyncjobs-bootstrap:environments: Required value"}},
		{"bad environment name", map[string]string{"asyncjobs-bootstrap:environments": `{"Prod!":{}}`}, []string{"asyncjobs-bootstrap:environments[Prod!]: Invalid value"}},
		{"environment with a quote", map[string]string{"asyncjobs-bootstrap:environments": `{"prod":{"githubEnvironment":"prod\" || true"}}`}, []string{"environments[prod].githubEnvironment: Invalid value"}},
		{"branch without environment", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"branch":"main"}}`}, []string{"environments[dev].branch: Invalid value"}},
		{"bad environment project", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"project":"X"}}`}, []string{"environments[dev].project: Invalid value"}},
		{"unknown key", map[string]string{"asyncjobs-bootstrap:repositry": repo}, []string{`asyncjobs-bootstrap:repositry: Not found: unknown key (did you mean "repository"?)`}},
		{"unknown environment key", map[string]string{"asyncjobs-bootstrap:environments": `{"dev":{"projct":"a"}}`}, []string{`environments[dev].projct: Not found`}},
		{"wrong type", map[string]string{"asyncjobs-bootstrap:environments": `["dev"]`}, []string{"asyncjobs-bootstrap:environments: Invalid value"}},
		{"bad pool", map[string]string{"asyncjobs-bootstrap:poolId": "gcp-pool"}, []string{"asyncjobs-bootstrap:poolId: Invalid value"}},
		{"no project", map[string]string{"gcp:project": ""}, []string{"gcp:project: Invalid value"}},
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
