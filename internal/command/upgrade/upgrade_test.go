package upgrade

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
)

const (
	providerURN = "urn:pulumi:dev::asyncjobs::asyncjobs:gke:Cluster$pulumi:providers:kubernetes::gke"
	metricURN   = "urn:pulumi:dev::asyncjobs::asyncjobs:monitoring:Monitoring$gcp:logging/metric:Metric::monitoring-cronjob-completed"
	validConfig = `apiVersion: v1
kind: Config
clusters:
- name: gke
  cluster:
    server: https://192.0.2.1
contexts:
- name: gke
  context: {cluster: gke, user: gke}
current-context: gke
users:
- name: gke
  user:
    token: x
`
	// Not YAML: what client-go's parser refuses, as it refused v0.1.0's.
	invalidConfig = "apiVersion: v1\nusers:\n- name: gke\n  user:\n    exec:\n      installHint: Install gke-gcloud-auth-plugin: see the docs\n    bad: [\n"
)

func secret(s string) map[string]any {
	b, _ := json.Marshal(s)
	return map[string]any{secretSig: "1b47061264138c4ac30d75fd1eb44270", "plaintext": string(b)}
}

func provider(kubeconfig any) Resource {
	return Resource{URN: providerURN, Type: TypeKubernetesProvider, Custom: true, ID: "1", Inputs: map[string]any{"kubeconfig": kubeconfig}}
}

func metric(name string, protect bool) Resource {
	return Resource{URN: metricURN, Type: TypeLogMetric, Custom: true, ID: name, Protect: protect,
		Inputs: map[string]any{"name": name, "project": "asyncjobs-dev"}}
}

func deployerGrant(member string) Resource {
	return Resource{URN: "urn:pulumi:dev::asyncjobs::asyncjobs:worker:Worker$" + TypeServiceAccountIAM + "::worker-runtime-deployer-0",
		Type: TypeServiceAccountIAM, Custom: true,
		Inputs: map[string]any{"member": member, "role": "roles/iam.serviceAccountUser"}}
}

func TestInspect(t *testing.T) {
	dev := Stack{Name: "dev", Deployers: []string{"serviceAccount:new@p.iam.gserviceaccount.com"}, DeployersKnown: true}
	namespace := Resource{URN: "urn:pulumi:dev::asyncjobs::kubernetes:core/v1:Namespace::ns", Type: "kubernetes:core/v1:Namespace", Provider: providerURN + "::1"}
	for _, tc := range []struct {
		name        string
		stack       Stack
		resources   []Resource
		state, boot []string
		notices     []string // substrings, one per notice
		deletes     []string
		err         string
	}{
		{name: "nothing to do", stack: dev, resources: []Resource{provider(validConfig), metric("asyncjobs-cronjob-failed", false)}},
		{name: "kubeconfig that does not parse", stack: dev, resources: []Resource{provider(invalidConfig)},
			state: []string{providerURN}},
		{name: "secret kubeconfig that does not parse", stack: dev, resources: []Resource{provider(secret(invalidConfig))},
			state: []string{providerURN}},
		{name: "secret kubeconfig that parses", stack: dev, resources: []Resource{provider(secret(validConfig)), namespace}},
		{name: "secret exported without its value", stack: dev, resources: []Resource{provider(map[string]any{
			secretSig: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"})},
			err: "--show-secrets"},
		{name: "provider that objects use is never removed", stack: dev, resources: []Resource{provider(invalidConfig), namespace},
			err: "1 resources use it"},
		{name: "completions metric moves to the bootstrap", stack: dev, resources: []Resource{metric(monitoring.MetricCronJobCompleted, false)},
			state: []string{metricURN},
			boot: []string{"import --stack example --yes --protect=false --generate-code=false " +
				"gcp:logging/metric:Metric cronjob-completed-asyncjobs-dev asyncjobs-dev " + monitoring.MetricCronJobCompleted}},
		{name: "protected completions metric", stack: dev, resources: []Resource{metric(monitoring.MetricCronJobCompleted, true)},
			state: []string{metricURN},
			boot: []string{"import --stack example --yes --protect=false --generate-code=false " +
				"gcp:logging/metric:Metric cronjob-completed-asyncjobs-dev asyncjobs-dev " + monitoring.MetricCronJobCompleted}},
		{name: "a test stack's own metric is deleted by its next up", stack: dev, resources: []Resource{metric(monitoring.MetricCronJobCompleted+"-x1", false)},
			deletes: []string{monitoring.MetricCronJobCompleted + "-x1"}},
		{name: "deployer changes", stack: dev, resources: []Resource{deployerGrant("serviceAccount:old@p.iam.gserviceaccount.com")},
			notices: []string{"to serviceAccount:new@p.iam.gserviceaccount.com and removes it from serviceAccount:old@p.iam.gserviceaccount.com"}},
		{name: "deployer unchanged", stack: dev, resources: []Resource{deployerGrant("serviceAccount:new@p.iam.gserviceaccount.com")}},
		{name: "no stack file: deployers not compared", stack: Stack{Name: "pr-1"},
			resources: []Resource{deployerGrant("serviceAccount:old@p.iam.gserviceaccount.com")}},
		{name: "protected stack gains protection", stack: Stack{Name: "prod", Protect: true},
			resources: []Resource{{URN: "s", Type: typeStack}, provider(validConfig), metric("asyncjobs-cronjob-failed", false),
				metric("asyncjobs-cronjob-missed", true)},
			notices: []string{"protects 1 more resources"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boot := "example"
			r, err := Inspect(tc.stack, tc.resources, boot)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var removed []string
			for _, x := range r.State {
				removed = append(removed, x.URN)
			}
			if !slices.Equal(removed, tc.state) {
				t.Errorf("removals:\n got %q\nwant %q", removed, tc.state)
			}
			var got []string
			for _, b := range r.Bootstrap {
				got = append(got, strings.Join(b.Args, " "))
			}
			if !slices.Equal(got, tc.boot) {
				t.Errorf("bootstrap steps:\n got %q\nwant %q", got, tc.boot)
			}
			var deletes []string
			for _, d := range r.Deletes {
				deletes = append(deletes, d.Name)
			}
			if !slices.Equal(deletes, tc.deletes) {
				t.Errorf("deletes %q, want %q", deletes, tc.deletes)
			}
			if r.Pending() != (len(tc.state) > 0) {
				t.Errorf("Pending() = %v", r.Pending())
			}
			if len(r.Notices) != len(tc.notices) {
				t.Fatalf("notices %q, want %d", r.Notices, len(tc.notices))
			}
			for i, n := range tc.notices {
				if !strings.Contains(r.Notices[i], n) {
					t.Errorf("notice %q lacks %q", r.Notices[i], n)
				}
			}
		})
	}
}

func TestStepString(t *testing.T) {
	s := Step{Args: []string{"import", "--yes", "gcp:logging/metric:Metric", "n", "p m", "it's"}}
	want := `pulumi import --yes gcp:logging/metric:Metric n 'p m' 'it'\''s'`
	if got := s.String(); got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestParseExport(t *testing.T) {
	rs, err := ParseExport([]byte(`{"version":3,"deployment":{"resources":[{"urn":"u","type":"t","protect":true,"inputs":{"a":"b"}}]}}`))
	if err != nil || len(rs) != 1 || rs[0].URN != "u" || !rs[0].Protect || rs[0].Inputs["a"] != "b" {
		t.Fatalf("ParseExport = %+v, %v", rs, err)
	}
	if _, err := ParseExport([]byte("not json")); err == nil {
		t.Error("ParseExport accepted no JSON")
	}
}

func TestRemove(t *testing.T) {
	const dash = "urn:pulumi:dev::asyncjobs::gcp:monitoring/dashboard:Dashboard::d"
	export := `{"version": 3, "deployment": {"manifest": {"time": "t"}, "secrets_providers": {"type": "passphrase"}, "resources": [
		{"urn": "` + providerURN + `", "type": "pulumi:providers:kubernetes", "id": "1"},
		{"urn": "` + metricURN + `", "type": "gcp:logging/metric:Metric", "protect": true},
		{"urn": "` + dash + `", "type": "gcp:monitoring/dashboard:Dashboard", "dependencies": ["` + metricURN + `", "x"],
		 "propertyDependencies": {"dashboardJson": ["` + metricURN + `"], "project": []}, "deletedWith": "` + metricURN + `",
		 "outputs": {"secret": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}}}
	]}}`
	out, err := Remove([]byte(export), []string{providerURN, metricURN})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version    int `json:"version"`
		Deployment struct {
			SecretsProviders map[string]any   `json:"secrets_providers"`
			Resources        []map[string]any `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != 3 || doc.Deployment.SecretsProviders["type"] != "passphrase" {
		t.Errorf("version or secrets provider lost: %s", out)
	}
	if len(doc.Deployment.Resources) != 1 || doc.Deployment.Resources[0]["urn"] != dash {
		t.Fatalf("resources after Remove: %s", out)
	}
	d := doc.Deployment.Resources[0]
	if deps, _ := d["dependencies"].([]any); len(deps) != 1 || deps[0] != "x" {
		t.Errorf("dependencies = %v, want [x]", d["dependencies"])
	}
	if pd, _ := d["propertyDependencies"].(map[string]any); len(pd["dashboardJson"].([]any)) != 0 {
		t.Errorf("propertyDependencies = %v", d["propertyDependencies"])
	}
	if _, ok := d["deletedWith"]; ok {
		t.Error("deletedWith names a removed resource")
	}
	if sec, _ := d["outputs"].(map[string]any)["secret"].(map[string]any); sec["ciphertext"] != "v1:abc" {
		t.Errorf("the encrypted secret changed: %v", d["outputs"])
	}

	for _, tc := range []struct{ name, export, urn, err string }{
		{"not in the state", export, "urn:nope", "not in the state"},
		{"provider of one that stays",
			`{"deployment": {"resources": [{"urn": "p", "type": "pulumi:providers:kubernetes"}, {"urn": "n", "provider": "p::1"}]}}`, "p", "provider of n"},
		{"parent of one that stays", `{"deployment": {"resources": [{"urn": "c"}, {"urn": "n", "parent": "c"}]}}`, "c", "parent of n"},
		{"no resources", `{"deployment": {}}`, "c", "no deployment.resources"},
		{"not JSON", `{`, "c", "reading the stack export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Remove([]byte(tc.export), []string{tc.urn}); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Remove = %v, want an error saying %q", err, tc.err)
			}
		})
	}
}
