package gke

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

// TestKubeconfigLoads: the kubeconfig is read back by client-go, the loader
// the Kubernetes provider uses, with every field the provider needs.
func TestKubeconfigLoads(t *testing.T) {
	out, err := Kubeconfig("203.0.113.7", base64.StdEncoding.EncodeToString([]byte(testCA)))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load([]byte(out))
	if err != nil {
		t.Fatalf("client-go cannot load the kubeconfig: %v\n%s", err, out)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		t.Fatalf("no current context %q:\n%s", cfg.CurrentContext, out)
	}
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil || user.Exec == nil {
		t.Fatalf("current context lacks a cluster or an exec user:\n%s", out)
	}
	if cluster.Server != "https://203.0.113.7" {
		t.Errorf("server = %q", cluster.Server)
	}
	if string(cluster.CertificateAuthorityData) != testCA {
		t.Errorf("CA = %q, want the decoded certificate", cluster.CertificateAuthorityData)
	}
	exec := user.Exec
	if exec.Command != AuthPlugin || exec.APIVersion != "client.authentication.k8s.io/v1beta1" || !exec.ProvideClusterInfo {
		t.Errorf("exec = %+v", exec)
	}
	// The hint holds ": ", which broke the hand-written YAML this replaced.
	if !strings.Contains(exec.InstallHint, ": gcloud components install") {
		t.Errorf("install hint = %q", exec.InstallHint)
	}
	if user.Token != "" || user.ClientKeyData != nil || user.Password != "" {
		t.Errorf("the kubeconfig holds a credential: %+v", user)
	}
	// client-go can build a REST config from it (the provider's next step).
	if _, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig(); err != nil {
		t.Errorf("client-go cannot build a client config: %v", err)
	}
}

func TestKubeconfigRefusesBadInput(t *testing.T) {
	for _, tc := range []struct{ name, endpoint, ca, want string }{
		{"no endpoint", "", base64.StdEncoding.EncodeToString([]byte(testCA)), "no endpoint"},
		{"CA not base64", "203.0.113.7", "not base64!", "not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Kubeconfig(tc.endpoint, tc.ca); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCreatedClusterNameFitsItsNodeAccount: a created cluster's node
// account id is <name>-nodes, at most 30 characters.
func TestCreatedClusterNameFitsItsNodeAccount(t *testing.T) {
	s := DefaultSpec()
	s.Create, s.Name = true, "asyncjobs-prod"
	if errs := resolved(s).Validate(field.NewPath("gke")); len(errs) != 0 {
		t.Fatalf("valid spec refused: %v", errs)
	}
	if got := s.NodeAccountID(); got != "asyncjobs-prod-nodes" {
		t.Errorf("node account %q", got)
	}
	s.Name = "a-cluster-name-of-25-char"
	errs := resolved(s).Validate(field.NewPath("gke"))
	if len(errs) != 1 || errs[0].Field != "gke.name" || !strings.Contains(errs[0].Detail, "at most 24 for the name") {
		t.Errorf("errors %v, want one on gke.name about the node account", errs)
	}
	s.Create = false // an existing cluster's name is not limited by it
	if errs := resolved(s).Validate(field.NewPath("gke")); len(errs) != 0 {
		t.Errorf("existing cluster refused: %v", errs)
	}
}

// TestSuffixedNamespaceStaysALabel: the resolved namespace (with the
// stack's name suffix) is checked, not only the configured one.
func TestSuffixedNamespaceStaysALabel(t *testing.T) {
	s := DefaultSpec()
	s.Name, s.Namespace = "c1", strings.Repeat("n", 61)
	ok := resolved(s)
	if errs := ok.Validate(field.NewPath("gke")); len(errs) != 0 {
		t.Fatalf("a 61-character namespace without suffix refused: %v", errs)
	}
	long := ok
	long.Names.Namespace = s.Namespace + "-t1"
	errs := long.Validate(field.NewPath("gke"))
	if len(errs) != 1 || errs[0].Field != "gke.namespace" || !strings.Contains(errs[0].Detail, `with the name suffix it becomes "`+long.Names.Namespace+`"`) {
		t.Errorf("errors %v, want one on gke.namespace about the suffixed name", errs)
	}
}

// resolved fills the spec's Names as the stack's resolve step does for a
// stack in project p and region asia-northeast1, without a name suffix,
// that is protected (asyncjobs:protect).
func resolved(s Spec) Spec {
	s.Names = Names{Project: s.Project, Location: s.Location, Namespace: s.Namespace, DeletionProtection: s.Create}
	if s.Names.Project == "" {
		s.Names.Project = "p"
	}
	if s.Names.Location == "" {
		s.Names.Location = "asia-northeast1"
	}
	return s
}

func createdSpec() Spec {
	s := DefaultSpec()
	s.Create, s.Name, s.Location = true, "asyncjobs-prod", "asia-northeast1"
	return resolved(s)
}

// TestCreatedClusterWaitsForTheGate: in a deployment a created cluster is
// registered only once the node role and the deployer's actAs on the node
// account exist and the gate has passed for that account.
func TestCreatedClusterWaitsForTheGate(t *testing.T) {
	const nodes = "asyncjobs-prod-nodes@p.iam.gserviceaccount.com"
	events := &plantest.Events{}
	gate := &plantest.Gate{Events: events}
	err := plantest.RunDeployment(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "gke", Args{Project: "p", Spec: createdSpec(),
			Deployers: []string{"serviceAccount:deployer@ci.iam.gserviceaccount.com"}, Gate: gate})
		return err
	}, events)
	if err != nil {
		t.Fatal(err)
	}
	for _, before := range []string{
		"register gcp:serviceaccount/iAMMember:IAMMember::gke-nodes-deployer-0", "register gcp:projects/iAMMember:IAMMember::gke-nodes-role",
	} {
		if b, g := events.Index(before), events.Index("gate "+nodes); b < 0 || g < 0 || b > g {
			t.Errorf("want %q before the gate: %v", before, events.List())
		}
	}
	if g, c := events.Index("gate "+nodes), events.Index("register gcp:container/cluster:Cluster::gke"); g < 0 || c < 0 || g > c {
		t.Errorf("want the gate before the cluster: %v", events.List())
	}
	if got := gate.Calls(); len(got) != 1 || got[nodes] != 1 {
		t.Errorf("gate asked %v, want the node account once", got)
	}
	ca, _ := events.Inputs("gcp:container/cluster:Cluster", "gke")["clusterAutoscaling"].(map[string]any)
	defaults, _ := ca["autoProvisioningDefaults"].(map[string]any)
	if defaults["serviceAccount"] != nodes {
		t.Errorf("nodes run as %v, want %s", defaults["serviceAccount"], nodes)
	}
}

// TestCreatedClusterPreview: a preview asks no gate and still shows the
// node account, known from configuration, so that the policy checks read it.
func TestCreatedClusterPreview(t *testing.T) {
	gate := &plantest.Gate{}
	plan, err := recorder.Run(func(ctx *pulumi.Context) error {
		_, err := New(ctx, "gke", Args{Project: "p", Spec: createdSpec(), Gate: gate})
		return err
	}, recorder.Options{Project: "asyncjobs", Stack: "test", Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if calls := gate.Calls(); len(calls) != 0 {
		t.Errorf("a preview asked the gate about %v", calls)
	}
	cluster := plantest.Find(t, plan, "gcp:container/cluster:Cluster", "gke")
	plantest.Input(t, cluster, "clusterAutoscaling.autoProvisioningDefaults.serviceAccount", "asyncjobs-prod-nodes@p.iam.gserviceaccount.com")
	// Where it is and its deletion protection are the resolved Names.
	plantest.Inputs(t, cluster, map[string]any{"project": "p", "location": "asia-northeast1", "deletionProtection": true})
	ns := plantest.Find(t, plan, "kubernetes:core/v1:Namespace", "gke-asyncjobs")
	plantest.Input(t, ns, "metadata.name", "asyncjobs")
}

// TestUnresolvedSpecIsRefused: a spec whose Names were not filled (no
// stack resolve step) is an error, not a guess; no resource is declared.
func TestUnresolvedSpecIsRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*Names)
	}{
		{"project", func(n *Names) { n.Project = "" }},
		{"location", func(n *Names) { n.Location = "" }},
		{"namespace", func(n *Names) { n.Namespace = "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := createdSpec()
			c.mutate(&spec.Names)
			plan, err := recorder.Run(func(ctx *pulumi.Context) error {
				_, err := New(ctx, "gke", Args{Project: "p", Spec: spec, Gate: &plantest.Gate{}})
				return err
			}, recorder.Options{Project: "asyncjobs", Stack: "test", Preview: true})
			if err == nil || !strings.Contains(err.Error(), "gke: spec not resolved") {
				t.Fatalf("got %v, want an error saying the spec is not resolved", err)
			}
			if plan == nil {
				t.Fatal("the recorder returned no plan")
			}
			for _, r := range plan.Resources {
				if r.Custom {
					t.Errorf("declared %s %s before refusing", r.Type, r.Name)
				}
			}
		})
	}
}
