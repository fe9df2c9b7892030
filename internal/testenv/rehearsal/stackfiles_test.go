package rehearsal_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

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

func hasKind(objs map[string]string, kind string) bool {
	for k := range objs {
		if strings.HasPrefix(k, kind+" ") {
			return true
		}
	}
	return false
}

// scenarios are what a stack file's rehearsal does between its first up
// and its destroy, beyond what every stack file gets.
var scenarios = map[string]func(t *testing.T, e *rehearsal.Env){
	"dev": func(t *testing.T, e *rehearsal.Env) {
		devChanges(t, e)
		t.Run("test stack", func(t *testing.T) { testStackBesideDev(t, e) })
	},
	"prod": prodReplacementUnderProtection,
}

// TestEveryStackFile runs each stack file as its users do, with the CLI in
// a copy of the repository: preview (everything to create), up, then a
// preview, a refresh and a preview that find nothing to do; up recorded
// exactly the resources and inputs make plan shows, the kubeconfig stays
// secret, the workloads are in the API server. Then the stack's own
// scenarios (dev: updates, a replacement, a test stack beside it; prod: a
// replacement under protection). Last, destroy: a protected stack refuses it and changes
// nothing; any other is destroyed and removed, leaving nothing in the API
// server or the fake Google.
func TestEveryStackFile(t *testing.T) {
	t.Parallel() // with the other rehearsals, as well as its own stack files
	for _, name := range stackNames(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := rehearsal.Start(t)
			ctx := context.Background()
			before := inventory(t, e)
			e.Init(ctx, name)
			cfg := config(t, e, name)

			onlyCreates(t, e.Preview(ctx, name), 40)
			u := e.Up(ctx, name)
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			waitedFor(t, name, u)
			// The inputs as up recorded them (a refresh records what Google
			// read back).
			state := e.State(ctx, "", name)
			sameAsPlan(t, e, name, state)
			kubeconfigIsSecret(t, e, name, state)
			noChanges(t, e, "", name)

			ns := namespaceOf(t, cfg.Config)
			objs := inNamespace(kubeObjects(t, e), ns)
			for _, kind := range []string{"namespaces", "deployments", "horizontalpodautoscalers", "poddisruptionbudgets", "cronjobs", "serviceaccounts"} {
				if !hasKind(objs, kind) {
					t.Errorf("no %s in namespace %s after up: %v", kind, ns, objs)
				}
			}

			// The inventory sees what up made, so that "as before" after a
			// destroy means something.
			if up := inventory(t, e); len(up) < len(before)+20 {
				t.Errorf("the fake Google holds %d objects after up, %d before: the inventory does not see the stack", len(up), len(before))
			}

			if s := scenarios[name]; s != nil && !t.Failed() {
				s(t, e)
			}

			if cfg.Config["asyncjobs:protect"] == "true" {
				beforeKube, beforeGoogle, beforeState := kubeObjects(t, e), inventory(t, e), e.State(ctx, "", name)
				r := e.Destroy(ctx, name)
				if r.Err == nil {
					t.Fatal("destroy of a protected stack succeeded")
				}
				if !strings.Contains(r.Output, "protect") {
					t.Errorf("destroy failed, but not for protection: %v", r.Err)
				}
				if after := kubeObjects(t, e); !maps.Equal(beforeKube, after) {
					t.Errorf("a refused destroy changed Kubernetes objects:\nbefore %v\nafter  %v", beforeKube, after)
				}
				if after := inventory(t, e); !maps.Equal(beforeGoogle, after) {
					t.Errorf("a refused destroy changed Google objects:\n%s", diffLines(keys(beforeGoogle), keys(after)))
				}
				keptByRefusedDestroy(t, beforeState, e.State(ctx, "", name))
				return
			}

			e.Must(ctx, "", name, "destroy", "--stack", name, "--non-interactive", "--yes", "--skip-preview")
			e.Must(ctx, "", name, "stack", "rm", "--stack", name, "--yes", "--preserve-config")
			if left := kubeObjects(t, e); len(left) > 0 {
				t.Errorf("left in the API server after destroy: %v", left)
			}
			if after := inventory(t, e); !maps.Equal(before, after) {
				t.Errorf("the fake Google after destroy is not as before up:\n%s", mapDiff(before, after))
			}
			if r := e.Must(ctx, "", "", "stack", "ls", "--json"); strings.TrimSpace(r.Stdout) != "[]" {
				t.Errorf("stacks left after destroy and stack rm: %s", r.Stdout)
			}
		})
	}
}

// mapDiff shows how two inventories differ.
func mapDiff(want, got map[string]string) string {
	var b strings.Builder
	for _, k := range keys(want) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "  gone:    %s\n", k)
		} else if g != want[k] {
			fmt.Fprintf(&b, "  changed: %s: %q -> %q\n", k, want[k], g)
		}
	}
	for _, k := range keys(got) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  left:    %s (%s)\n", k, got[k])
		}
	}
	return b.String()
}
