package rehearsal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/asyncjobs/asyncjobs/internal/recorder"
	"github.com/asyncjobs/asyncjobs/internal/rehearsal"
	"github.com/asyncjobs/asyncjobs/internal/rehearsal/fakegcp"
	"github.com/asyncjobs/asyncjobs/internal/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

func TestMain(m *testing.M) {
	code := m.Run()
	rehearsal.Cleanup()
	os.Exit(code)
}

// stackNames lists the project's stack files.
func stackNames(t *testing.T) []string {
	t.Helper()
	root, err := rehearsal.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	names, err := stackfile.Stacks(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "dev") || !slices.Contains(names, "prod") {
		t.Fatalf("stack files %v lack dev or prod", names)
	}
	return names
}

// config loads the scratch stack file as the engine sees it.
func config(t *testing.T, e *rehearsal.Env, stack string) *stackfile.Stack {
	t.Helper()
	st, err := stackfile.Load(e.ProjectDir, stack)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func preview(t *testing.T, e *rehearsal.Env, s auto.Stack, opts ...optpreview.Option) *rehearsal.Steps {
	t.Helper()
	steps, ch := rehearsal.NewSteps()
	opts = append(opts, optpreview.EventStreams(ch), optpreview.ProgressStreams(e.Log), optpreview.ErrorProgressStreams(e.Log))
	if _, err := s.Preview(context.Background(), opts...); err != nil {
		t.Fatalf("preview %s: %v", s.Name(), err)
	}
	return steps
}

func up(t *testing.T, e *rehearsal.Env, s auto.Stack) *rehearsal.Steps {
	t.Helper()
	steps, ch := rehearsal.NewSteps()
	if _, err := s.Up(context.Background(), optup.EventStreams(ch), optup.ProgressStreams(e.Log), optup.ErrorProgressStreams(e.Log)); err != nil {
		t.Fatalf("up %s: %v", s.Name(), err)
	}
	return steps
}

// noChanges: a preview, and a refresh, find nothing to do.
func noChanges(t *testing.T, e *rehearsal.Env, s auto.Stack) {
	t.Helper()
	if ch := preview(t, e, s, optpreview.ExpectNoChanges()).Changed(); len(ch) > 0 {
		t.Fatalf("preview after up wants changes: %v", ch)
	}
	if _, err := s.Refresh(context.Background(), optrefresh.ExpectNoChanges(), optrefresh.ProgressStreams(e.Log), optrefresh.ErrorProgressStreams(e.Log)); err != nil {
		t.Fatalf("refresh %s found changes: %v", s.Name(), err)
	}
	if ch := preview(t, e, s, optpreview.ExpectNoChanges()).Changed(); len(ch) > 0 {
		t.Fatalf("preview after refresh wants changes: %v", ch)
	}
}

func state(t *testing.T, s auto.Stack) []rehearsal.Resource {
	t.Helper()
	rs, err := rehearsal.State(context.Background(), s)
	if err != nil {
		t.Fatalf("export %s: %v", s.Name(), err)
	}
	return rs
}

// sameResourcesAsPlan: the engine's resources are the ones the offline
// recorder (make plan) shows, with the same types, parents and protection.
func sameResourcesAsPlan(t *testing.T, e *rehearsal.Env, s auto.Stack) {
	t.Helper()
	st := config(t, e, s.Name())
	plan, err := recorder.Run(stacks.Program, recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys})
	if err != nil {
		t.Fatalf("recording %s: %v", s.Name(), err)
	}
	line := func(urn, typ, parent string, protect bool) string {
		return fmt.Sprintf("%s type=%s parent=%s protect=%v", urn, typ, parent, protect)
	}
	var want, got []string
	for _, r := range plan.Resources {
		want = append(want, line(r.URN, r.Type, r.Parent, r.Protect))
	}
	for _, r := range state(t, s) {
		switch {
		case r.Type == "pulumi:pulumi:Stack":
			continue
		case r.Type == "pulumi:providers:gcp" && strings.HasSuffix(r.URN, "::default_"+strings.ReplaceAll(rehearsal.GCPPluginVersion, ".", "_")):
			continue // the engine's default provider; the recorder has none
		}
		got = append(got, line(r.URN, r.Type, r.Parent, r.Protect))
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(want, got) {
		t.Errorf("engine state and plan differ:\n%s", diffLines(want, got))
	}
	if len(got) < 40 {
		t.Errorf("only %d resources in the state", len(got))
	}
}

func diffLines(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  only in plan:  %s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  only in state: %s\n", g)
		}
	}
	return b.String()
}

// kubeKinds are the collections the program's objects live in.
var kubeKinds = []string{
	"/api/v1/namespaces",
	"/api/v1/serviceaccounts",
	"/apis/apps/v1/deployments",
	"/apis/autoscaling/v2/horizontalpodautoscalers",
	"/apis/policy/v1/poddisruptionbudgets",
	"/apis/batch/v1/cronjobs",
}

var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// kubeObjects lists the API server's objects of the program's kinds outside
// the system namespaces: "collection namespace/name" to "uid resourceVersion".
func kubeObjects(t *testing.T, e *rehearsal.Env) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range kubeKinds {
		items, err := e.Kube.List(context.Background(), c)
		if err != nil {
			t.Fatalf("listing %s: %v", c, err)
		}
		for _, it := range items {
			meta, _ := it["metadata"].(map[string]any)
			ns, _ := meta["namespace"].(string)
			name, _ := meta["name"].(string)
			if slices.Contains(systemNamespaces, ns) || (ns == "" && slices.Contains(systemNamespaces, name)) {
				continue
			}
			out[fmt.Sprintf("%s %s/%s", c[strings.LastIndex(c, "/")+1:], ns, name)] = fmt.Sprintf("%v %v", meta["uid"], meta["resourceVersion"])
		}
	}
	return out
}

// inNamespace keeps the objects of one namespace (and the namespace itself).
func inNamespace(objs map[string]string, ns string) map[string]string {
	out := map[string]string{}
	for k, v := range objs {
		if strings.Contains(k, " "+ns+"/") || k == "namespaces /"+ns {
			out[k] = v
		}
	}
	return out
}

// google lists the fake project's objects: "type key" to their holders.
func google(t *testing.T, e *rehearsal.Env) map[string]string {
	t.Helper()
	st, err := fakegcp.LoadStore(e.StoreDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range st.Resources() {
		out[r.Type+" "+r.Key] = strings.Join(r.Holders, ",")
	}
	return out
}

// TestEveryStackFile: each stack file goes through preview, up, a preview
// and a refresh that find nothing to do, with the engine holding exactly
// the resources make plan shows. An unprotected stack is then destroyed
// and removed, leaving nothing in the API server or the fake project; a
// protected one refuses destroy and deletes nothing.
func TestEveryStackFile(t *testing.T) {
	for _, name := range stackNames(t) {
		t.Run(name, func(t *testing.T) {
			e := rehearsal.Start(t)
			ctx := context.Background()
			s := e.Stack(ctx, name)
			cfg := config(t, e, name)

			for urn, ops := range preview(t, e, s).Changed() {
				if len(ops) != 1 || ops[0] != apitype.OpCreate {
					t.Errorf("first preview: %s: %v, want create", urn, ops)
				}
			}
			up(t, e, s)
			noChanges(t, e, s)
			sameResourcesAsPlan(t, e, s)
			kubeconfigIsSecret(t, e, s)

			ns := namespaceOf(t, cfg.Config)
			objs := inNamespace(kubeObjects(t, e), ns)
			for _, kind := range []string{"namespaces", "deployments", "horizontalpodautoscalers", "poddisruptionbudgets", "cronjobs", "serviceaccounts"} {
				if !hasKind(objs, kind) {
					t.Errorf("no %s in namespace %s after up: %v", kind, ns, objs)
				}
			}

			if cfg.Config["asyncjobs:protect"] == "true" {
				beforeKube, beforeGoogle, beforeState := kubeObjects(t, e), google(t, e), len(state(t, s))
				_, err := s.Destroy(ctx, optdestroy.ProgressStreams(e.Log), optdestroy.ErrorProgressStreams(e.Log))
				if err == nil {
					t.Fatal("destroy of a protected stack succeeded")
				}
				if !strings.Contains(err.Error(), "protect") {
					t.Errorf("destroy failed, but not for protection: %v", err)
				}
				if after := kubeObjects(t, e); !maps.Equal(beforeKube, after) {
					t.Errorf("a refused destroy changed Kubernetes objects:\nbefore %v\nafter  %v", beforeKube, after)
				}
				if after := google(t, e); !maps.Equal(beforeGoogle, after) {
					t.Errorf("a refused destroy changed Google objects:\n%s", diffLines(keys(beforeGoogle), keys(after)))
				}
				if after := len(state(t, s)); after != beforeState {
					t.Errorf("a refused destroy left %d resources of %d in the state", after, beforeState)
				}
				return
			}

			if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(e.Log), optdestroy.ErrorProgressStreams(e.Log), optdestroy.Remove()); err != nil {
				t.Fatalf("destroy: %v", err)
			}
			if left := kubeObjects(t, e); len(left) > 0 {
				t.Errorf("left in the API server after destroy: %v", left)
			}
			for k, holders := range google(t, e) {
				if holders != "" {
					t.Errorf("left in the fake project after destroy: %s (held by %s)", k, holders)
				}
			}
			ws, err := e.Source().Workspace(ctx)
			if err != nil {
				t.Fatal(err)
			}
			list, err := ws.ListStacks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 0 {
				t.Errorf("stacks left after destroy --remove: %v", list)
			}
		})
	}
}

// secretSig marks a secret value in a Pulumi checkpoint.
const secretSig = "1b47061264138c4ac30d75fd1eb44270"

// kubeconfigIsSecret: the Kubernetes provider's kubeconfig is a secret in
// the state, in its inputs as in its outputs, and the checkpoint the
// backend writes holds none of it in the clear.
func kubeconfigIsSecret(t *testing.T, e *rehearsal.Env, s auto.Stack) {
	t.Helper()
	n := 0
	for _, r := range state(t, s) {
		if r.Type != "pulumi:providers:kubernetes" {
			continue
		}
		n++
		for what, props := range map[string]map[string]any{"inputs": r.Inputs, "outputs": r.Outputs} {
			if v, _ := props["kubeconfig"].(map[string]any); v["4dabf18193072939515e22adb298388d"] != secretSig {
				t.Errorf("%s: kubeconfig in the %s is not a secret: %.80v", r.URN, what, props["kubeconfig"])
			}
		}
	}
	if n != 1 {
		t.Errorf("%d Kubernetes providers in the state, want 1", n)
	}
	checkpoints, err := filepath.Glob(filepath.Join(e.BackendDir, ".pulumi", "stacks", "*", s.Name()+".json*"))
	if err != nil || len(checkpoints) == 0 {
		t.Fatalf("no checkpoint of %s in the backend (%v)", s.Name(), err)
	}
	for _, c := range checkpoints {
		if strings.HasSuffix(c, ".attrs") {
			continue // the backend's metadata beside each checkpoint
		}
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "ciphertext") || strings.Contains(string(data), "gke-gcloud-auth-plugin") {
			t.Errorf("%s holds the kubeconfig in the clear", filepath.Base(c))
		}
	}
}

func hasKind(objs map[string]string, kind string) bool {
	for k := range objs {
		if strings.HasPrefix(k, kind+" ") {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// namespaceOf is the workloads' namespace of a stack: the configured one
// (the project default when unset) plus the name suffix.
func namespaceOf(t *testing.T, cfg map[string]string) string {
	t.Helper()
	spec := struct {
		Namespace string `json:"namespace"`
	}{Namespace: "asyncjobs"}
	if v, ok := cfg["asyncjobs:gke"]; ok {
		if err := json.Unmarshal([]byte(v), &spec); err != nil {
			t.Fatal(err)
		}
	}
	if suffix := cfg[stacks.SuffixKey]; suffix != "" {
		return spec.Namespace + "-" + suffix
	}
	return spec.Namespace
}
