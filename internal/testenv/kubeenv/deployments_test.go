package kubeenv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/testenv/kubeenv"
)

const rolloutNamespace = "rollout-test"

// providerManager applies the way the Kubernetes provider does: server-side,
// under its own field manager, without force, so a field the stand-in owns
// that the program also set would be a conflict (an error) here.
const providerManager = "pulumi-kubernetes-stand-in"

func deploymentObj(name, image string, replicas any) map[string]any {
	labels := map[string]any{"app.kubernetes.io/name": name}
	spec := map[string]any{
		"selector": map[string]any{"matchLabels": labels},
		"template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec": map[string]any{
				"securityContext": map[string]any{
					"runAsNonRoot":   true,
					"seccompProfile": map[string]any{"type": "RuntimeDefault"},
				},
				"containers": []any{map[string]any{
					"name": "app", "image": image,
					"securityContext": map[string]any{
						"allowPrivilegeEscalation": false,
						"capabilities":             map[string]any{"drop": []any{"ALL"}},
					},
				}},
			},
		},
	}
	if replicas != nil {
		spec["replicas"] = replicas
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": rolloutNamespace},
		"spec":     spec,
	}
}

func applyAsProvider(ctx context.Context, t *testing.T, env *kubeenv.Env, obj map[string]any) map[string]any {
	t.Helper()
	path, err := env.ResourcePath(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"fieldManager": {providerManager}, "fieldValidation": {"Strict"}}
	answer, err := env.Do(ctx, http.MethodPatch, path+"?"+q.Encode(), "application/apply-patch+yaml", body)
	if err != nil {
		t.Fatalf("applying %s without force: %v", path, err)
	}
	var out map[string]any
	if err := json.Unmarshal(answer, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// field walks obj along path; nil when something on the way is missing.
func field(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func str(obj map[string]any, path ...string) string {
	s, _ := field(obj, path...).(string)
	return s
}

// num reads an integer field; JSON numbers decode as float64.
func num(obj map[string]any, path ...string) (int64, bool) {
	f, ok := field(obj, path...).(float64)
	return int64(f), ok
}

func revision(obj map[string]any) string {
	return str(obj, "metadata", "annotations", "deployment.kubernetes.io/revision")
}

// ownedBy is isOwnedBy in the provider's pkg/await/util.go: any owner
// reference with the owner's UID.
func ownedBy(obj, owner map[string]any) bool {
	refs, _ := field(obj, "metadata", "ownerReferences").([]any)
	for _, r := range refs {
		if ref, _ := r.(map[string]any); ref != nil && ref["uid"] == field(owner, "metadata", "uid") {
			return true
		}
	}
	return false
}

// providerAwait mirrors the success test of the pulumi-kubernetes provider's
// Deployment await (provider/v4 pkg/await/deployment.go, the apps/v1 path):
// it returns "" when the await would succeed and otherwise what it still
// waits for. last is the Deployment before an update (lastOutputs, the live
// object the provider read before applying), nil on a create and on a read
// (refresh); minGeneration is the generation the provider's own apply
// returned (currentOutputs).
func providerAwait(dep map[string]any, rss []map[string]any, last map[string]any, minGeneration int64) string {
	// waitUntilDeploymentControllerReconciles: status.observedGeneration is
	// set and equals metadata.generation.
	gen, _ := num(dep, "metadata", "generation")
	observed, ok := num(dep, "status", "observedGeneration")
	if !ok || observed != gen {
		return fmt.Sprintf("observedGeneration %v of generation %d", field(dep, "status", "observedGeneration"), gen)
	}
	// processDeploymentEvent: not stale, has a revision, and the conditions.
	if gen < minGeneration {
		return fmt.Sprintf("stale generation %d < %d", gen, minGeneration)
	}
	rev := revision(dep)
	if rev == "" {
		return "no deployment.kubernetes.io/revision annotation"
	}
	var deploymentAvailable, replicaSetAvailable bool
	conds, _ := field(dep, "status", "conditions").([]any)
	for _, c := range conds {
		cond, _ := c.(map[string]any)
		switch cond["type"] {
		case "Progressing":
			replicaSetAvailable = cond["status"] == "True" && cond["reason"] == "NewReplicaSetAvailable"
		case "Available":
			deploymentAvailable = cond["status"] == "True"
		}
	}
	// processReplicaSetEvent: ReplicaSets owned by the Deployment, keyed by
	// their revision annotation.
	byRevision := map[string]map[string]any{}
	for _, rs := range rss {
		if ownedBy(rs, dep) {
			byRevision[revision(rs)] = rs
		}
	}
	// checkReplicaSetStatus.
	rs, created := byRevision[rev]
	if !created {
		return "no ReplicaSet with revision " + rev
	}
	specReplicas, ok := num(rs, "spec", "replicas")
	if !ok {
		specReplicas = 1
	}
	ready, readyExists := num(rs, "status", "readyReplicas")
	done := specReplicas == 0
	if readyExists {
		done = ready >= specReplicas
	}
	lastRevision := ""
	if last != nil {
		lastRevision = revision(last)
	}
	changeTriggeredRollout := last == nil || rev != lastRevision
	updatedReplicaSetReady := created && done
	if changeTriggeredRollout {
		updatedReplicaSetReady = lastRevision != rev && created && done
	}
	// checkAndLogStatus.
	switch {
	case !deploymentAvailable:
		return "not Available"
	case !updatedReplicaSetReady:
		return fmt.Sprintf("ReplicaSet %s: %d of %d ready (last revision %q)", str(rs, "metadata", "name"), ready, specReplicas, lastRevision)
	case rev != "1" && !replicaSetAvailable:
		return "Progressing is not True/NewReplicaSetAvailable"
	}
	return ""
}

type rolloutFixture struct {
	t   *testing.T
	ctx context.Context
	env *kubeenv.Env
}

func (f *rolloutFixture) get(name string) map[string]any {
	f.t.Helper()
	dep, err := f.env.Get(f.ctx, deploymentObj(name, "", nil))
	if err != nil {
		f.t.Fatal(err)
	}
	return dep
}

func (f *rolloutFixture) replicaSets() []map[string]any {
	f.t.Helper()
	rss, err := f.env.List(f.ctx, "/apis/apps/v1/namespaces/"+rolloutNamespace+"/replicasets")
	if err != nil {
		f.t.Fatal(err)
	}
	return rss
}

func (f *rolloutFixture) ownedReplicaSets(dep map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, rs := range f.replicaSets() {
		if ownedBy(rs, dep) {
			out[str(rs, "metadata", "name")] = rs
		}
	}
	return out
}

// awaitRollout waits, at most a few seconds, until providerAwait succeeds for
// the Deployment, and returns it.
func (f *rolloutFixture) awaitRollout(name string, last map[string]any, minGeneration int64) map[string]any {
	f.t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < 5*time.Second {
		dep := f.get(name)
		if why = providerAwait(dep, f.replicaSets(), last, minGeneration); why == "" {
			f.t.Logf("Deployment %s rolled out after %v", name, time.Since(start).Round(time.Millisecond))
			return dep
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("the provider's await for Deployment %s would still wait: %s", name, why)
	return nil
}

// checkRolledOut checks what the provider's await reads, exactly: the
// revision annotation, the ReplicaSet of that revision (owned, scaled,
// ready), the others scaled to 0, and the status.
func (f *rolloutFixture) checkRolledOut(dep map[string]any, wantRevision string, wantReplicas int64) (current string) {
	f.t.Helper()
	t := f.t
	name := str(dep, "metadata", "name")
	if got := revision(dep); got != wantRevision {
		t.Errorf("%s: revision annotation %q, want %q", name, got, wantRevision)
	}
	if got, _ := num(dep, "spec", "replicas"); got != wantReplicas {
		t.Errorf("%s: spec.replicas %d, want %d", name, got, wantReplicas)
	}
	gen, _ := num(dep, "metadata", "generation")
	wantStatus := map[string]int64{"observedGeneration": gen, "replicas": wantReplicas, "updatedReplicas": wantReplicas,
		"readyReplicas": wantReplicas, "availableReplicas": wantReplicas}
	for k, want := range wantStatus {
		if got, _ := num(dep, "status", k); got != want {
			t.Errorf("%s: status.%s %d, want %d", name, k, got, want)
		}
	}
	if v := field(dep, "status", "unavailableReplicas"); v != nil {
		t.Errorf("%s: status.unavailableReplicas %v, want none", name, v)
	}

	var currentRS map[string]any
	for rsName, rs := range f.ownedReplicaSets(dep) {
		ref, _ := field(rs, "metadata", "ownerReferences").([]any)
		if len(ref) != 1 || field(ref[0].(map[string]any), "controller") != true || field(ref[0].(map[string]any), "kind") != "Deployment" {
			t.Errorf("%s: owner references %v, want the Deployment as controller", rsName, ref)
		}
		hash := str(rs, "metadata", "labels", "pod-template-hash")
		if hash == "" || rsName != name+"-"+hash ||
			str(rs, "spec", "selector", "matchLabels", "pod-template-hash") != hash ||
			str(rs, "spec", "template", "metadata", "labels", "pod-template-hash") != hash {
			t.Errorf("%s: not named <deployment>-<pod-template-hash> with the hash in its labels, selector and template", rsName)
		}
		specReplicas, _ := num(rs, "spec", "replicas")
		statusReplicas, hasStatusReplicas := num(rs, "status", "replicas")
		ready, _ := num(rs, "status", "readyReplicas")
		available, _ := num(rs, "status", "availableReplicas")
		if revision(rs) == wantRevision {
			if currentRS != nil {
				t.Errorf("two ReplicaSets with revision %s", wantRevision)
			}
			currentRS = rs
			if specReplicas != wantReplicas || statusReplicas != wantReplicas || ready != wantReplicas || available != wantReplicas {
				t.Errorf("%s: spec.replicas %d, status replicas %d ready %d available %d; want all %d",
					rsName, specReplicas, statusReplicas, ready, available, wantReplicas)
			}
		} else if specReplicas != 0 || !hasStatusReplicas || statusReplicas != 0 || ready != 0 || available != 0 {
			t.Errorf("old %s (revision %s): spec.replicas %d, status replicas %d ready %d available %d; want 0",
				rsName, revision(rs), specReplicas, statusReplicas, ready, available)
		}
		if got := str(rs, "metadata", "annotations", "deployment.kubernetes.io/desired-replicas"); got != fmt.Sprint(wantReplicas) {
			t.Errorf("%s: desired-replicas annotation %q, want %d", rsName, got, wantReplicas)
		}
		rsGen, _ := num(rs, "metadata", "generation")
		if got, _ := num(rs, "status", "observedGeneration"); got != rsGen {
			t.Errorf("%s: status.observedGeneration %d, want %d", rsName, got, rsGen)
		}
	}
	if currentRS == nil {
		t.Fatalf("%s: no owned ReplicaSet with revision %s", name, wantRevision)
	}
	current = str(currentRS, "metadata", "name")

	conds, _ := field(dep, "status", "conditions").([]any)
	want := []string{
		"Available True MinimumReplicasAvailable Deployment has minimum availability.",
		fmt.Sprintf("Progressing True NewReplicaSetAvailable ReplicaSet %q has successfully progressed.", current),
	}
	var got []string
	for _, c := range conds {
		cond := c.(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v %v", cond["type"], cond["status"], cond["reason"], cond["message"]))
		if cond["lastUpdateTime"] == nil || cond["lastTransitionTime"] == nil {
			t.Errorf("%s: condition %v without times", name, cond["type"])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: conditions\n  %s\nwant\n  %s", name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return current
}

// resourceVersions lists the resourceVersions of the namespace's Deployments
// and ReplicaSets.
func (f *rolloutFixture) resourceVersions() map[string]string {
	f.t.Helper()
	items, err := f.env.List(f.ctx, "/apis/apps/v1/namespaces/"+rolloutNamespace+"/deployments")
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range append(items, f.replicaSets()...) {
		out[str(it, "metadata", "name")] = str(it, "metadata", "resourceVersion")
	}
	return out
}

func TestRollOutDeployments(t *testing.T) {
	env := kubeenv.Start(t)
	begin := time.Now()
	ctx := t.Context()
	f := &rolloutFixture{t: t, ctx: ctx, env: env}

	if err := env.Create(ctx, map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": rolloutNamespace, "labels": map[string]any{
			"pod-security.kubernetes.io/enforce": "restricted",
		}},
	}); err != nil {
		t.Fatal(err)
	}

	// Without the stand-in nothing rolls a Deployment out.
	created := applyAsProvider(ctx, t, env, deploymentObj("web", "example.invalid/web:1", 2))
	time.Sleep(500 * time.Millisecond)
	if why := providerAwait(f.get("web"), f.replicaSets(), nil, 1); why == "" || len(f.replicaSets()) != 0 {
		t.Fatalf("a Deployment rolled out with no stand-in running (await: %q)", why)
	}

	rolloutCtx, stop := context.WithCancel(ctx)
	defer stop()
	env.RollOutDeployments(rolloutCtx)

	// Create: revision 1.
	gen, _ := num(created, "metadata", "generation")
	dep := f.awaitRollout("web", nil, gen)
	rs1 := f.checkRolledOut(dep, "1", 2)

	// The stand-in writes as the real controller does: the revision
	// annotation and the status together through the status subresource,
	// which leaves the generation alone, under its own field manager, so the
	// provider's next apply (no force) neither conflicts with nor removes them.
	if got, _ := num(dep, "metadata", "generation"); got != gen {
		t.Errorf("generation %d after the rollout, want %d as applied", got, gen)
	}
	var managers []string
	for _, m := range field(dep, "metadata", "managedFields").([]any) {
		mf := m.(map[string]any)
		managers = append(managers, fmt.Sprintf("%v/%v", mf["manager"], mf["subresource"]))
		if mf["manager"] == kubeenv.ControllerFieldManager &&
			field(mf, "fieldsV1", "f:metadata", "f:annotations", "f:deployment.kubernetes.io/revision") == nil {
			t.Errorf("the revision annotation is not %s's: %v", kubeenv.ControllerFieldManager, mf["fieldsV1"])
		}
	}
	if want := []string{providerManager + "/<nil>", kubeenv.ControllerFieldManager + "/status"}; !slices.Equal(managers, want) {
		t.Errorf("managedFields by %v, want %v", managers, want)
	}
	again := applyAsProvider(ctx, t, env, deploymentObj("web", "example.invalid/web:1", 2))
	if revision(again) != "1" || field(again, "status", "observedGeneration") == nil {
		t.Errorf("re-applying the same Deployment lost the revision or the status: %v", again["metadata"])
	}

	// Rolled out stays put: no write at all, so a refresh or preview sees
	// the objects as the update left them.
	before := f.resourceVersions()
	time.Sleep(700 * time.Millisecond)
	if after := f.resourceVersions(); !maps.Equal(before, after) {
		t.Errorf("the stand-in rewrote rolled-out objects: resourceVersions %v, then %v", before, after)
	}

	// Update with a changed pod template: revision 2 in a new ReplicaSet,
	// the old one scaled to 0.
	last := f.get("web")
	updated := applyAsProvider(ctx, t, env, deploymentObj("web", "example.invalid/web:2", 2))
	gen, _ = num(updated, "metadata", "generation")
	if gen != 2 {
		t.Errorf("generation after a template change: %d, want 2", gen)
	}
	dep = f.awaitRollout("web", last, gen)
	rs2 := f.checkRolledOut(dep, "2", 2)
	if rs2 == rs1 {
		t.Errorf("a changed template kept ReplicaSet %s", rs1)
	}
	if n := len(f.ownedReplicaSets(dep)); n != 2 {
		t.Errorf("%d ReplicaSets, want 2", n)
	}

	// Update of the replicas alone: same revision and ReplicaSet, scaled (the
	// await's changeTriggeredRollout()==false path).
	last = dep
	updated = applyAsProvider(ctx, t, env, deploymentObj("web", "example.invalid/web:2", 3))
	gen, _ = num(updated, "metadata", "generation")
	dep = f.awaitRollout("web", last, gen)
	if got := f.checkRolledOut(dep, "2", 3); got != rs2 {
		t.Errorf("scaling moved to ReplicaSet %s, want %s", got, rs2)
	}

	// Back to the first template: its ReplicaSet returns with revision 3,
	// as on a rollback.
	last = dep
	updated = applyAsProvider(ctx, t, env, deploymentObj("web", "example.invalid/web:1", 3))
	gen, _ = num(updated, "metadata", "generation")
	dep = f.awaitRollout("web", last, gen)
	if got := f.checkRolledOut(dep, "3", 3); got != rs1 {
		t.Errorf("the first template's ReplicaSet is %s, want %s again", got, rs1)
	}
	// A refresh (the provider's Read: no last outputs) succeeds too.
	if why := providerAwait(dep, f.replicaSets(), nil, 0); why != "" {
		t.Errorf("a refresh would fail: %s", why)
	}

	// No spec.replicas (an HPA owns the count): the API server defaults it to 1.
	created = applyAsProvider(ctx, t, env, deploymentObj("scaled", "example.invalid/scaled:1", nil))
	gen, _ = num(created, "metadata", "generation")
	hpa := f.awaitRollout("scaled", nil, gen)
	f.checkRolledOut(hpa, "1", 1)

	// A deleted Deployment's ReplicaSets go too (the garbage collector is off).
	q := url.Values{"propagationPolicy": {"Foreground"}}
	if _, err := env.Do(ctx, http.MethodDelete, "/apis/apps/v1/namespaces/"+rolloutNamespace+"/deployments/scaled?"+q.Encode(), "", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.ownedReplicaSets(hpa)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ReplicaSets of the deleted Deployment remain: %v", f.ownedReplicaSets(hpa))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Once ctx is done the stand-in stops.
	stop()
	time.Sleep(300 * time.Millisecond)
	updated = applyAsProvider(ctx, t, env, deploymentObj("web", "example.invalid/web:3", 3))
	time.Sleep(700 * time.Millisecond)
	if why := providerAwait(f.get("web"), f.replicaSets(), dep, 0); why == "" || revision(f.get("web")) != "3" {
		t.Errorf("a Deployment rolled out after the stand-in was stopped (revision %s)", revision(updated))
	}
	t.Logf("took %v after the API server started", time.Since(begin).Round(time.Millisecond))
}
