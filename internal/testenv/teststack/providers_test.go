package teststack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// fixturePins are the versions of the providers in testdata/pinned-state.json,
// a state the program wrote (trimmed; secrets replaced by placeholders).
var fixturePins = Pins{"gcp": "7.38.0", "kubernetes": "4.25.0"}

// pinnedState returns testdata/pinned-state.json for a stack of a project.
func pinnedState(t *testing.T, project, stack string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "pinned-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "urn:pulumi:STACK::PROJECT::", "urn:pulumi:"+stack+"::"+project+"::")
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func resourcesOf(state map[string]any) []any {
	return state["deployment"].(map[string]any)["resources"].([]any)
}

func setResources(state map[string]any, rs []any) {
	state["deployment"].(map[string]any)["resources"] = rs
}

// findResource returns the resource of the state whose URN ends with suffix.
func findResource(t *testing.T, state map[string]any, suffix string) map[string]any {
	t.Helper()
	for _, r := range resourcesOf(state) {
		if m := r.(map[string]any); strings.HasSuffix(m["urn"].(string), suffix) {
			return m
		}
	}
	t.Fatalf("no resource %s in the state", suffix)
	return nil
}

func deploymentOf(t *testing.T, state map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(state["deployment"])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plant adds to a state what a pull request acting as the dev deployer
// could write: a provider of package pkg at version whose plugin comes
// from url, and a resource of that package that uses it (so that an update
// or a destroy loads it).
func plant(state map[string]any, pkg, version, url string) {
	rs := resourcesOf(state)
	stackURN := rs[0].(map[string]any)["urn"].(string)
	prefix, _, _ := strings.Cut(stackURN, "pulumi:pulumi:Stack")
	provURN := prefix + "pulumi:providers:" + pkg + "::planted"
	rs = append(rs,
		map[string]any{"urn": provURN, "custom": true, "id": "00000000-0000-0000-0000-000000000001", "type": "pulumi:providers:" + pkg,
			"inputs":  map[string]any{"__internal": map[string]any{"pluginDownloadURL": url}, "version": version},
			"outputs": map[string]any{"version": version}},
		map[string]any{"urn": prefix + pkg + ":storage/bucket:Bucket::planted", "custom": true, "id": "planted", "type": pkg + ":storage/bucket:Bucket",
			"parent": stackURN, "provider": provURN + "::00000000-0000-0000-0000-000000000001",
			"inputs": map[string]any{"name": "planted"}, "outputs": map[string]any{"name": "planted"}},
	)
	setResources(state, rs)
}

// TestCheckProviders: a state the program wrote passes; each way a state
// can name another plugin is refused, with the resource and the reason.
func TestCheckProviders(t *testing.T) {
	if got := CheckProviders(deploymentOf(t, pinnedState(t, "asyncjobs", "dev")), fixturePins); len(got) != 0 {
		t.Fatalf("the program's own state is refused: %v", got)
	}
	if got := CheckProviders(nil, fixturePins); len(got) != 0 {
		t.Errorf("an empty state is refused: %v", got)
	}
	const gcp = "::pulumi:providers:gcp::default_7_38_0"
	const k8s = "$pulumi:providers:kubernetes::gke"
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, s map[string]any)
		want   string
	}{
		{"pluginDownloadURL under __internal", func(t *testing.T, s map[string]any) {
			findResource(t, s, gcp)["inputs"].(map[string]any)["__internal"] = map[string]any{"pluginDownloadURL": "https://plugins.invalid/"}
		}, `__internal.pluginDownloadURL "https://plugins.invalid/"`},
		{"pluginDownloadURL at the top (older engines)", func(t *testing.T, s map[string]any) {
			delete(findResource(t, s, gcp)["inputs"].(map[string]any), "__internal")
			findResource(t, s, gcp)["inputs"].(map[string]any)["pluginDownloadURL"] = "https://plugins.invalid/"
		}, `inputs: pluginDownloadURL "https://plugins.invalid/"`},
		{"pluginDownloadURL in the outputs", func(t *testing.T, s map[string]any) {
			findResource(t, s, k8s)["outputs"].(map[string]any)["pluginDownloadURL"] = "https://plugins.invalid/"
		}, `outputs: pluginDownloadURL`},
		{"another version", func(t *testing.T, s map[string]any) {
			findResource(t, s, gcp)["inputs"].(map[string]any)["version"] = "7.37.0"
		}, `version "7.37.0", not the pinned 7.38.0`},
		{"no version", func(t *testing.T, s map[string]any) {
			delete(findResource(t, s, k8s)["inputs"].(map[string]any), "version")
		}, "no version"},
		{"a version hidden in a secret", func(t *testing.T, s map[string]any) {
			findResource(t, s, gcp)["inputs"].(map[string]any)["version"] = map[string]any{
				"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}
		}, "is not a plain string"},
		{"__internal hidden in a secret", func(t *testing.T, s map[string]any) {
			findResource(t, s, gcp)["inputs"].(map[string]any)["__internal"] = map[string]any{
				"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}
		}, "__internal.4dabf18193072939515e22adb298388d"},
		{"a renamed package", func(t *testing.T, s map[string]any) {
			findResource(t, s, gcp)["inputs"].(map[string]any)["__internal"] = map[string]any{"name": "evil"}
		}, `__internal.name "evil"`},
		{"a parameterized package", func(t *testing.T, s map[string]any) {
			findResource(t, s, k8s)["inputs"].(map[string]any)["__internal"] = map[string]any{"parameterization": "ZXZpbA=="}
		}, "__internal.parameterization"},
		{"a provider of another package", func(t *testing.T, s map[string]any) { plant(s, "evil", "1.0.0", "https://plugins.invalid/") },
			`a provider of package "evil", which is not pinned`},
		{"a planted gcp provider of the pinned version", func(t *testing.T, s map[string]any) { plant(s, "gcp", "7.38.0", "https://plugins.invalid/") },
			`::pulumi:providers:gcp::planted: inputs: __internal.pluginDownloadURL "https://plugins.invalid/"`},
		{"a resource of another package", func(t *testing.T, s map[string]any) {
			r := findResource(t, s, "kubernetes:core/v1:Namespace::gke-asyncjobs")
			r["type"] = "evil:index:Thing"
		}, `a resource of package "evil", which has no pinned provider`},
		{"a provider the state does not hold", func(t *testing.T, s map[string]any) {
			r := findResource(t, s, "gcp:projects/service:Service::apis-run")
			r["provider"] = strings.Replace(r["provider"].(string), "default_7_38_0", "elsewhere", 1)
		}, "is not a provider of the state"},
		{"a provider in a pending operation", func(t *testing.T, s map[string]any) {
			clean := pinnedState(t, "asyncjobs", "dev")
			plant(clean, "evil", "1.0.0", "https://plugins.invalid/")
			rs := resourcesOf(clean)
			s["deployment"].(map[string]any)["pending_operations"] = []any{map[string]any{"resource": rs[len(rs)-2], "type": "creating"}}
		}, `a provider of package "evil"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := pinnedState(t, "asyncjobs", "dev")
			tc.change(t, s)
			got := CheckProviders(deploymentOf(t, s), fixturePins)
			if !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("problems %q lack %q", got, tc.want)
			}
		})
	}
}

// TestPinsFromGoMod: the pins are the SDK versions go.mod requires, in a
// require block or on a require line; a go.mod without them is an error.
func TestPinsFromGoMod(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) string {
		p := filepath.Join(dir, "go.mod")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("module x\n\ngo 1.26\n\nrequire github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.25.0\n\n" +
		"require (\n\t// the gcp SDK\n\tgithub.com/pulumi/pulumi-gcp/sdk/v7 v7.38.0 // pinned\n\tgithub.com/other/x v1.0.0\n)\n")
	pins, err := PinsFromGoMod(p)
	if err != nil {
		t.Fatal(err)
	}
	if pins["gcp"] != "7.38.0" || pins["kubernetes"] != "4.25.0" || len(pins) != 2 || pins.String() != "gcp 7.38.0, kubernetes 4.25.0" {
		t.Errorf("pins %v", pins)
	}
	if _, err := PinsFromGoMod(write("module x\n\nrequire github.com/pulumi/pulumi-gcp/sdk/v7 v7.38.0\n")); err == nil ||
		!strings.Contains(err.Error(), "pulumi-kubernetes") {
		t.Errorf("go.mod without the kubernetes SDK: err %v", err)
	}
	// The repository's own go.mod names both.
	if real, err := PinsFromGoMod(filepath.Join("..", "..", "..", "go.mod")); err != nil || real["gcp"] == "" || real["kubernetes"] == "" {
		t.Errorf("the repository's go.mod: pins %v, err %v", real, err)
	}
}

// importState replaces a stack's state with the given one, as anyone who
// can write the stack's state (the dev deployer) could.
func (e *env) importState(stack string, state map[string]any) {
	e.t.Helper()
	b, err := json.Marshal(state)
	if err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(e.t.TempDir(), "state.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.cli("stack", "import", "--stack", stack, "--file", p)
}

// TestPlantedPluginIsNeverRun: a test stack whose state a pull request
// changed to name a gcp provider of the pinned version whose plugin comes
// from a server of the attacker's (here one on loopback that counts what
// it is asked for) is refused by up, destroy and the sweep, with the
// reason, and stays as it was; nothing asks the server for anything. With
// the check off, the CLI itself (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION)
// still does not fetch the plugin; with both off it does, which is the
// route the check closes.
func TestPlantedPluginIsNeverRun(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	var lastPath atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		lastPath.Store(r.URL.Path)
		http.NotFound(w, r)
	}))
	defer srv.Close()

	e := newEnv(t)
	ctx := context.Background()
	now := t0.Add(72 * time.Hour)
	m := e.manager(t0)
	m.Pins = fixturePins
	if _, err := m.Up(ctx, UpOptions{Name: "pr-11", From: "dev", TTL: time.Hour}); err != nil {
		t.Fatalf("up of a clean stack with the check on: %v", err)
	}
	// The stack's own state (its record lives in tags and configuration)
	// with the planted provider and a resource of it; no other provider,
	// so that nothing else is ever fetched.
	var state map[string]any
	if err := json.Unmarshal([]byte(e.cli("stack", "export", "--stack", "pr-11")), &state); err != nil {
		t.Fatal(err)
	}
	plant(state, "gcp", "7.38.0", srv.URL)
	e.importState("pr-11", state)

	m = e.manager(now)
	m.Pins = fixturePins
	var pe *ProviderError
	_, err := m.Destroy(ctx, "pr-11", false)
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "pluginDownloadURL") || !strings.Contains(err.Error(), srv.URL) ||
		!strings.Contains(err.Error(), "refusing to touch it") {
		t.Errorf("destroy of a planted state: err = %v, want a ProviderError naming the URL", err)
	}
	report, err := m.Sweep(ctx, SweepOptions{Prefix: "pr-"})
	if err == nil || report == nil || len(report.Outcomes) != 1 || report.Outcomes[0].Result != Failed || !errors.As(report.Outcomes[0].Err, &pe) {
		t.Errorf("sweep of a planted, expired state: report %+v, err %v; want it FAILED with a ProviderError", report, err)
	}
	if _, err := m.Up(ctx, UpOptions{Name: "pr-11", From: "dev"}); !errors.As(err, &pe) {
		t.Errorf("up of a planted state: err = %v, want a ProviderError", err)
	}
	if !e.stacks()["pr-11"] {
		t.Fatal("pr-11 is gone")
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("the plugin server was asked %d times with the check on", n)
	}

	// The check off: the engine still downloads nothing, it fails on the
	// missing plugin.
	m.Pins = nil
	_, err = m.Destroy(ctx, "pr-11", false)
	if err == nil || !strings.Contains(err.Error(), "gcp") {
		t.Errorf("destroy without the check, acquisition disabled: err = %v, want a missing gcp plugin", err)
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("the plugin server was asked %d times with acquisition disabled", n)
	}

	// Both off: the engine asks the state's server for the plugin, the
	// route a pull request had to the sweep and the dev deploy on main.
	vars := map[string]string{}
	for k, v := range e.vars {
		vars[k] = v
	}
	vars["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "false"
	open := e.manager(now)
	open.Source = InlineSource{ProjectDir: e.dir, Project: testProject, Program: program,
		Options: append(append([]auto.LocalWorkspaceOption{}, e.opts...), auto.EnvVars(vars))}
	if _, err := open.Destroy(ctx, "pr-11", false); err == nil {
		t.Error("destroy with both off succeeded, though the plugin server has no plugin")
	}
	if n := asked.Load(); n == 0 {
		t.Error("with the check and PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION off, the engine did not ask the planted server: " +
			"the test does not plant what the engine reads")
	} else {
		t.Logf("with both off the engine asked the planted server %d times (last %v)", n, lastPath.Load())
	}
}
