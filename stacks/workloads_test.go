package stacks_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// TestDevWorkloads checks Pulumi.dev.yaml's GKE settings and the
// identities and grants behind them.
func TestDevWorkloads(t *testing.T) {
	st := loadStack(t, "dev")
	plan, err := record(t, st, st.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	prov := plantest.Find(t, plan, "pulumi:providers:kubernetes", "gke")
	// The kubeconfig is secret in the state, inputs included; its content is
	// loaded by client-go in components/gke's tests and by the real provider
	// in the rehearsal.
	if got := prov.Inputs["kubeconfig"]; got != recorder.Secret {
		t.Errorf("kubeconfig input = %v, want it secret", got)
	}
	if len(prov.SecretOutputs) != 1 || prov.SecretOutputs[0] != "kubeconfig" {
		t.Errorf("kubeconfig not kept secret: %v", prov.SecretOutputs)
	}
	ns := plantest.Find(t, plan, "kubernetes:core/v1:Namespace", "gke-asyncjobs")
	for _, mode := range []string{"enforce", "warn", "audit"} {
		labels, _ := ns.Input("metadata.labels")
		if l, _ := labels.(map[string]any); l["pod-security.kubernetes.io/"+mode] != "restricted" {
			t.Errorf("namespace lacks pod-security %s=restricted: %v", mode, labels)
		}
	}

	gsa := plantest.Find(t, plan, "gcp:serviceaccount/account:Account", "subscriber-jobs-subscriber-gsa")
	plantest.Input(t, gsa, "accountId", "jobs-subscriber-sub")
	email := "jobs-subscriber-sub@asyncjobs-dev.iam.gserviceaccount.com"
	wi := plantest.Find(t, plan, "gcp:serviceaccount/iAMMember:IAMMember", "subscriber-jobs-subscriber-workload-identity")
	plantest.Inputs(t, wi, map[string]any{
		"role":             "roles/iam.workloadIdentityUser",
		"member":           "serviceAccount:asyncjobs-dev.svc.id.goog[asyncjobs/jobs-subscriber]",
		"serviceAccountId": "projects/asyncjobs-dev/serviceAccounts/" + email,
	})
	pull := plantest.Find(t, plan, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "subscriber-jobs-subscriber-pull")
	plantest.Inputs(t, pull, map[string]any{
		"role":         "roles/pubsub.subscriber",
		"member":       "serviceAccount:" + email,
		"subscription": "projects/asyncjobs-dev/subscriptions/jobs-worker",
	})
	ksa := plantest.Find(t, plan, "kubernetes:core/v1:ServiceAccount", "subscriber-jobs-subscriber-ksa")
	annotations, _ := ksa.Input("metadata.annotations")
	if a, _ := annotations.(map[string]any); a["iam.gke.io/gcp-service-account"] != email {
		t.Errorf("KSA annotations %v", annotations)
	}

	dep := plantest.Find(t, plan, "kubernetes:apps/v1:Deployment", "subscriber-jobs-subscriber")
	plantest.Absent(t, dep, "spec.replicas")
	plantest.Inputs(t, dep, map[string]any{
		"metadata.namespace":                                                       "asyncjobs",
		"spec.template.spec.serviceAccountName":                                    "jobs-subscriber",
		"spec.template.spec.terminationGracePeriodSeconds":                         90.0, // ack deadline 60s + 30s
		"spec.template.spec.automountServiceAccountToken":                          false,
		"spec.template.spec.securityContext.runAsNonRoot":                          true,
		"spec.template.spec.securityContext.runAsUser":                             10001.0,
		"spec.template.spec.securityContext.seccompProfile.type":                   "RuntimeDefault",
		"spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem":   true,
		"spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation": false,
		"spec.template.spec.containers.0.securityContext.capabilities.drop.0":      "ALL",
		"spec.template.spec.containers.0.volumeMounts.0.mountPath":                 "/tmp",
		"spec.template.spec.volumes.0.emptyDir.sizeLimit":                          "64Mi",
		"spec.template.spec.containers.0.env.0.name":                               "GOOGLE_CLOUD_PROJECT",
		"spec.template.spec.containers.0.env.1.name":                               "PUBSUB_SUBSCRIPTION",
		"spec.template.spec.containers.0.env.1.value":                              "jobs-worker",
	})
	hpa := plantest.Find(t, plan, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "subscriber-jobs-subscriber")
	plantest.Inputs(t, hpa, map[string]any{
		"spec.minReplicas": 1.0, "spec.maxReplicas": 10.0,
		"spec.scaleTargetRef.kind": "Deployment", "spec.scaleTargetRef.name": "jobs-subscriber",
	})
	plantest.Find(t, plan, "kubernetes:policy/v1:PodDisruptionBudget", "subscriber-jobs-subscriber")

	cj := plantest.Find(t, plan, "kubernetes:batch/v1:CronJob", "cronjob-indexed-echo")
	plantest.Inputs(t, cj, map[string]any{
		"spec.schedule":                                                    "* * * * *",
		"spec.concurrencyPolicy":                                           "Forbid",
		"spec.jobTemplate.spec.activeDeadlineSeconds":                      600.0,
		"spec.jobTemplate.spec.backoffLimit":                               2.0,
		"spec.jobTemplate.spec.completions":                                3.0,
		"spec.jobTemplate.spec.parallelism":                                3.0,
		"spec.jobTemplate.spec.completionMode":                             "Indexed",
		"spec.jobTemplate.spec.template.spec.restartPolicy":                "OnFailure",
		"spec.jobTemplate.spec.template.spec.containers.0.image":           "busybox:1.28",
		"spec.jobTemplate.spec.template.spec.containers.0.imagePullPolicy": "IfNotPresent",
		"spec.jobTemplate.spec.template.spec.containers.0.command.2":       "echo JOB_COMPLETION_INDEX=$JOB_COMPLETION_INDEX",
	})
	if a, _ := cj.Input("metadata.annotations"); a != nil {
		t.Errorf("annotations on the CronJob itself (%v); safe-to-evict belongs on the pod template", a)
	}
}

// TestProdCreatesAProtectedAutopilotCluster: prod creates its cluster, and
// asyncjobs:protect (true in prod) turns on its deletion protection and
// protects it; with the key off, neither.
func TestProdCreatesAProtectedAutopilotCluster(t *testing.T) {
	st := loadStack(t, "prod")
	unprotected := copyConfig(st.Config)
	unprotected["asyncjobs:protect"] = "false"
	off, err := record(t, st, unprotected, true)
	if err != nil {
		t.Fatal(err)
	}
	u := plantest.Find(t, off, "gcp:container/cluster:Cluster", "gke")
	plantest.Input(t, u, "deletionProtection", false)
	if u.Protect {
		t.Error("cluster protected in a stack with asyncjobs:protect false")
	}

	plan, err := record(t, st, st.Config, true)
	if err != nil {
		t.Fatal(err)
	}
	c := plantest.Find(t, plan, "gcp:container/cluster:Cluster", "gke")
	plantest.Inputs(t, c, map[string]any{
		"enableAutopilot": true, "deletionProtection": true,
		"workloadIdentityConfig.workloadPool": "asyncjobs-prod.svc.id.goog",
	})
	if !c.Protect {
		t.Error("cluster not protected")
	}
	checkNodeAccount(t, plan, c)
	wi := plantest.Find(t, plan, "gcp:serviceaccount/iAMMember:IAMMember", "cronjob-nightly-report-workload-identity")
	found := false
	for _, d := range wi.Dependencies {
		found = found || d == c.URN
	}
	if !found {
		t.Errorf("Workload Identity grant does not wait for the cluster (the identity pool exists only after it)")
	}
	g := plantest.Find(t, plan, "gcp:pubsub/topicIAMMember:TopicIAMMember", "cronjob-nightly-report-grant-0")
	plantest.Input(t, g, "role", "roles/pubsub.publisher")
	cj := plantest.Find(t, plan, "kubernetes:batch/v1:CronJob", "cronjob-nightly-report")
	plantest.Input(t, cj, "spec.timeZone", "Asia/Tokyo")
}

// TestTestStackOwnNamespace: a stack with a name suffix (a test stack made
// from dev) puts every Kubernetes object in its own namespace, so it never
// shares, adopts or deletes its template's objects in a shared cluster; its
// Workload Identity bindings name that namespace too.
func TestTestStackOwnNamespace(t *testing.T) {
	dev := loadStack(t, "dev")
	for _, tc := range []struct{ suffix, namespace string }{{"", "asyncjobs"}, {"t1x2", "asyncjobs-t1x2"}} {
		t.Run("suffix="+tc.suffix, func(t *testing.T) {
			src := copyConfig(dev.Config)
			src["asyncjobs:nameSuffix"] = tc.suffix
			plan, err := record(t, dev, src, false)
			if err != nil {
				t.Fatal(err)
			}
			kube := 0
			for _, r := range plan.Resources {
				if !strings.HasPrefix(r.Type, "kubernetes:") || r.Type == "pulumi:providers:kubernetes" {
					continue
				}
				kube++
				path := "metadata.namespace"
				if r.Type == "kubernetes:core/v1:Namespace" {
					path = "metadata.name"
				}
				plantest.Input(t, r, path, tc.namespace)
			}
			if kube < 5 {
				t.Fatalf("only %d Kubernetes objects in the plan", kube)
			}
			prov := plantest.Find(t, plan, "pulumi:providers:kubernetes", "gke")
			plantest.Input(t, prov, "namespace", tc.namespace)
			wi := plantest.Find(t, plan, "gcp:serviceaccount/iAMMember:IAMMember", "subscriber-jobs-subscriber-workload-identity")
			plantest.Input(t, wi, "member", "serviceAccount:asyncjobs-dev.svc.id.goog["+tc.namespace+"/jobs-subscriber]")
		})
	}
}

// checkNodeAccount: a created cluster's nodes run as a dedicated account
// (never the Compute Engine default one) that holds only the GKE node role,
// on which the stack's deployers, and nobody else, get actAs, and the
// cluster is created only once those grants exist.
func checkNodeAccount(t *testing.T, plan *recorder.Plan, c *recorder.Resource) {
	t.Helper()
	const email = "asyncjobs-prod-nodes@asyncjobs-prod.iam.gserviceaccount.com"
	plantest.Input(t, c, "clusterAutoscaling.autoProvisioningDefaults.serviceAccount", email)
	if v, ok := c.Input("clusterAutoscaling.enabled"); ok && v != nil {
		t.Errorf("clusterAutoscaling.enabled = %v on an Autopilot cluster", v)
	}
	sa := plantest.Find(t, plan, "gcp:serviceaccount/account:Account", "gke-nodes")
	plantest.Inputs(t, sa, map[string]any{"accountId": "asyncjobs-prod-nodes", "project": "asyncjobs-prod"})
	accountName := "projects/asyncjobs-prod/serviceAccounts/" + email

	deployers := map[string]bool{}
	var cfg []string
	if err := json.Unmarshal([]byte(loadStack(t, "prod").Config["asyncjobs:deployers"]), &cfg); err != nil || len(cfg) == 0 {
		t.Fatalf("prod has no asyncjobs:deployers (%v)", err)
	}
	for _, m := range cfg {
		deployers[m] = true
	}

	// Every grant naming or sitting on the node account.
	var nodeRole *recorder.Resource
	actAs := map[string]*recorder.Resource{}
	for _, r := range plan.Resources {
		if !strings.HasSuffix(strings.ToLower(r.Type), "iammember") {
			continue
		}
		member, _ := r.Inputs["member"].(string)
		on, _ := r.Inputs["serviceAccountId"].(string)
		if slices.Contains(r.PropertyDependencies["serviceAccountId"], sa.URN) {
			on = accountName // unknown in a preview: named by the account it comes from
		}
		switch {
		case member == "serviceAccount:"+email:
			if r.Type != "gcp:projects/iAMMember:IAMMember" || nodeRole != nil {
				t.Errorf("the node account holds %s %s (%v); it may hold only the node role, once", r.Type, r.Name, r.Inputs["role"])
				continue
			}
			nodeRole = r
		case on == accountName:
			if r.Inputs["role"] != "roles/iam.serviceAccountUser" || !deployers[member] {
				t.Errorf("%s grants %v on the node account to %s; only the deployers' actAs is allowed", r.Name, r.Inputs["role"], member)
			}
			actAs[member] = r
		}
	}
	if nodeRole == nil {
		t.Fatal("the node account is not granted the node role")
	}
	plantest.Inputs(t, nodeRole, map[string]any{"role": "roles/container.defaultNodeServiceAccount", "project": "asyncjobs-prod"})
	if nodeRole.Inputs["condition"] != nil {
		t.Errorf("node role grant has a condition: %v", nodeRole.Inputs["condition"])
	}
	if len(actAs) != len(deployers) {
		t.Errorf("actAs on the node account for %d of %d deployers", len(actAs), len(deployers))
	}
	for _, g := range append([]*recorder.Resource{nodeRole}, mapValues(actAs)...) {
		if !slices.Contains(c.Dependencies, g.URN) {
			t.Errorf("the cluster does not wait for %s (GKE refuses nodes as an account the caller cannot act as)", g.Name)
		}
		if !slices.Contains(g.ReplaceWith, sa.URN) {
			t.Errorf("%s is not re-created with the node account (replaceWith %v)", g.Name, g.ReplaceWith)
		}
	}
}

func mapValues(m map[string]*recorder.Resource) []*recorder.Resource {
	var out []*recorder.Resource
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
