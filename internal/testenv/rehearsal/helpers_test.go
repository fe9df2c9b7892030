package rehearsal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
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

// config loads the copy's stack file as the engine sees it.
func config(t *testing.T, e *rehearsal.Env, stack string) *stackfile.Stack {
	t.Helper()
	st, err := stackfile.Load(e.Dir, stack)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// short names a URN by its own type and logical name.
func short(urn string) string {
	parts := strings.SplitN(urn, "::", 4)
	if len(parts) != 4 {
		return urn
	}
	typ := parts[2]
	if i := strings.LastIndex(typ, "$"); i >= 0 {
		typ = typ[i+1:]
	}
	return typ + "::" + parts[3]
}

// changed maps the short names of the changed resources to their ops.
func changed(steps rehearsal.Steps) map[string][]apitype.OpType {
	out := map[string][]apitype.OpType{}
	for urn, ops := range steps.Changed() {
		out[short(urn)] = ops
	}
	return out
}

// diffs returns, by short name, the property paths an update or replace
// changes (the detailed diff; the top-level keys where a provider gives
// no detail).
func diffs(steps rehearsal.Steps) map[string][]string {
	out := map[string][]string{}
	for _, st := range steps {
		if st.Op == apitype.OpSame || st.Op == apitype.OpRead || st.Op == apitype.OpRefresh {
			continue
		}
		paths := slices.Sorted(maps.Keys(st.Detailed))
		if len(paths) == 0 {
			paths = slices.Sorted(slices.Values(st.Diffs))
		}
		out[short(st.URN)] = paths
	}
	return out
}

// noChanges: a preview, a refresh and a preview again find nothing to do,
// each with --expect-no-changes (which fails the command otherwise).
func noChanges(t *testing.T, e *rehearsal.Env, dir, stack string) {
	t.Helper()
	ctx := context.Background()
	for _, args := range [][]string{
		{"preview", "--stack", stack, "--non-interactive", "--diff", "--expect-no-changes"},
		{"refresh", "--stack", stack, "--non-interactive", "--yes", "--skip-preview", "--expect-no-changes"},
		{"preview", "--stack", stack, "--non-interactive", "--diff", "--expect-no-changes"},
	} {
		r := e.Pulumi(ctx, dir, stack, args...)
		if r.Err != nil {
			t.Fatalf("%v\nchanges: %v", r.Err, r.Steps.Changed())
		}
		if ch := r.Steps.Changed(); len(ch) > 0 {
			t.Fatalf("pulumi %s wants changes: %v", strings.Join(args, " "), ch)
		}
	}
}

func diffLines(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  only before: %s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  only after:  %s\n", g)
		}
	}
	return b.String()
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

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

// secretSig marks a secret value in a Pulumi checkpoint.
const secretSig = "1b47061264138c4ac30d75fd1eb44270"

func isSecret(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m["4dabf18193072939515e22adb298388d"] == secretSig
}

// kubeconfigIsSecret: the Kubernetes provider's kubeconfig is a secret in
// the state, in its inputs as in its outputs, and the checkpoint the
// backend writes holds none of it in the clear.
func kubeconfigIsSecret(t *testing.T, e *rehearsal.Env, stack string, state []rehearsal.Resource) {
	t.Helper()
	n := 0
	for _, r := range state {
		if r.Type != "pulumi:providers:kubernetes" {
			continue
		}
		n++
		for what, props := range map[string]map[string]any{"inputs": r.Inputs, "outputs": r.Outputs} {
			if !isSecret(props["kubeconfig"]) {
				t.Errorf("%s: kubeconfig in the %s is not a secret: %.80v", r.URN, what, props["kubeconfig"])
			}
		}
	}
	if n != 1 {
		t.Errorf("%d Kubernetes providers in the state, want 1", n)
	}
	checkpoints, err := filepath.Glob(filepath.Join(e.BackendDir, ".pulumi", "stacks", "*", stack+".json*"))
	if err != nil || len(checkpoints) == 0 {
		t.Fatalf("no checkpoint of %s in the backend (%v)", stack, err)
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

// keptByRefusedDestroy: a destroy the engine refused for protection left
// every resource in the state. Two kinds are not protected and the engine
// removes them from the state when nothing it could delete depends on
// them, which deletes nothing anywhere: providers, and the stack itself
// (whose outputs are then gone from the state until the next up).
func keptByRefusedDestroy(t *testing.T, before, after []rehearsal.Resource) {
	t.Helper()
	left := map[string]bool{}
	for _, r := range after {
		left[r.URN] = true
	}
	n := 0
	for _, r := range before {
		if !left[r.URN] && !strings.HasPrefix(r.Type, "pulumi:providers:") && r.Type != "pulumi:pulumi:Stack" {
			t.Errorf("the refused destroy deleted %s", r.URN)
		}
		n++
	}
	if n < 10 {
		t.Errorf("only %d resources in the state before the destroy", n)
	}
}

// onlyCreates: a first preview succeeded, creates at least the given
// number of resources, and does nothing else.
func onlyCreates(t *testing.T, p *rehearsal.Run, least int) {
	t.Helper()
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	for urn, ops := range p.Steps.Changed() {
		if len(ops) != 1 || ops[0] != apitype.OpCreate {
			t.Errorf("first preview: %s: %v, want create", urn, ops)
		}
	}
	if n := len(p.Steps.Changed()); n < least {
		t.Errorf("the first preview creates only %d resources", n)
	}
}
