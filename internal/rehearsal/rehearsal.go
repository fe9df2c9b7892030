// Package rehearsal runs the unmodified program (stacks.Program) through the
// real Pulumi engine, as close to `pulumi up` as a machine without a cloud
// account gets: the Pulumi CLI that scripts/tools.sh builds, driven through
// the Automation API with the program inline, on a file backend in a
// temporary directory.
//
//   - The Kubernetes half is applied by the real pulumi-kubernetes provider
//     plugin (built by scripts/tools.sh at the release the program's SDK
//     asks for) to a real kube-apiserver (internal/kubeenv), reached through
//     the kubeconfig the program itself generates; a stand-in
//     gke-gcloud-auth-plugin on PATH answers its exec call with a token the
//     API server accepts.
//   - The Google half goes to a stand-in gcp provider plugin (fakegcp) that
//     keeps a fake project in a directory shared by every stack of one
//     rehearsal. It starts with what the bootstrap program made (seeded as
//     made a day earlier): the CronJob completions metric of every stack
//     file's cluster project.
//   - IAM propagation is modelled (fakegcp's actAs rule): creating what runs
//     as a service account fails with Google's 403 unless the deployer's
//     serviceAccountUser binding on it is Propagation old. The deployer of
//     a project is the first of asyncjobs:deployers in its stack files. The
//     program's actAs gate (internal/actas) asks an IAM API served from
//     the same fake project (actas.EndpointEnv), as in a real `pulumi up`.
//
// The only thing the harness adds to the program is a transformation that
// marks Deployments pulumi.com/skipAwait: no controller runs that would make
// them ready. Namespaces are finalized by kubeenv.FinalizeNamespaces, which
// stands in for the namespace controller.
package rehearsal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"

	"github.com/asyncjobs/asyncjobs/components/gke"
	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/actas"
	"github.com/asyncjobs/asyncjobs/internal/kubeenv"
	"github.com/asyncjobs/asyncjobs/internal/pulumicli"
	"github.com/asyncjobs/asyncjobs/internal/rehearsal/fakegcp"
	"github.com/asyncjobs/asyncjobs/internal/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/teststack"
	"github.com/asyncjobs/asyncjobs/internal/toolcache"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// Propagation is how long an IAM binding takes to take effect in a
// rehearsal (Google documents up to 7 minutes; 2 s is enough to show the
// race and keeps rehearsals quick).
const Propagation = 2 * time.Second

// Plugin versions the program's SDKs ask the engine for (go.mod).
const (
	GCPPluginVersion        = "7.38.0"
	KubernetesPluginVersion = "4.25.0"
)

// Env is one rehearsal: a kube-apiserver, a file backend, a PULUMI_HOME with
// both provider plugins, the fake Google project and a scratch copy of the
// project's Pulumi.yaml and stack files (stack files are edited and written
// there, never in the repository).
type Env struct {
	t *testing.T
	// Kube is the API server the Kubernetes provider applies to.
	Kube *kubeenv.Env
	// ProjectDir holds Pulumi.yaml and the Pulumi.<stack>.yaml files.
	ProjectDir string
	// StoreDir is the fake Google project (fakegcp.LoadStore).
	StoreDir string
	// BackendDir is the file backend: the stacks' checkpoints as written.
	BackendDir string
	// Log holds the engine's output of every operation.
	Log *SyncBuffer

	opts []auto.LocalWorkspaceOption
	cli  string
	vars map[string]string
}

// RepoRoot is the directory with the project's go.mod.
func RepoRoot() (string, error) { return toolcache.RepoRoot() }

var (
	homeOnce sync.Once
	homeDir  string
	homeErr  error
)

// pulumiHome returns a PULUMI_HOME with the stand-in gcp plugin and the real
// Kubernetes plugin installed, made once per test binary (the Kubernetes
// plugin is a large copy). Call Cleanup from TestMain to remove it.
func pulumiHome(t *testing.T, cli string) string {
	t.Helper()
	k8s := toolcache.Path(t, "pulumi-resource-kubernetes")
	homeOnce.Do(func() { homeDir, homeErr = installPlugins(cli, k8s) })
	if homeErr != nil {
		t.Fatalf("rehearsal: %v", homeErr)
	}
	return homeDir
}

// Cleanup removes what the rehearsals of this test binary shared.
func Cleanup() {
	if homeDir != "" {
		_ = os.RemoveAll(homeDir)
	}
}

func installPlugins(cli, k8s string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	home, err := os.MkdirTemp("", "rehearsal-home-")
	if err != nil {
		return "", err
	}
	gcp := filepath.Join(home, "build", "pulumi-resource-gcp")
	build := exec.Command("go", "build", "-o", gcp, "./internal/rehearsal/fakegcp/cmd/pulumi-resource-gcp")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the stand-in gcp plugin: %v\n%s", err, out)
	}
	for _, p := range []struct{ name, version, file string }{
		{"gcp", GCPPluginVersion, gcp},
		{"kubernetes", KubernetesPluginVersion, k8s},
	} {
		cmd := exec.Command(cli, "plugin", "install", "resource", p.name, "v"+p.version, "--file", p.file)
		cmd.Env = append(os.Environ(), "PULUMI_HOME="+home, "PULUMI_SKIP_UPDATE_CHECK=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("pulumi plugin install %s %s: %v\n%s", p.name, p.version, err, out)
		}
	}
	return home, os.RemoveAll(filepath.Join(home, "build"))
}

// Start sets up a rehearsal. Everything it starts stops when the test ends.
func Start(t *testing.T) *Env {
	t.Helper()
	cli := pulumicli.Path(t)
	home := pulumiHome(t, cli)
	kube := kubeenv.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kube.FinalizeNamespaces(ctx)

	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	e := &Env{t: t, Kube: kube, ProjectDir: filepath.Join(base, "project"), StoreDir: filepath.Join(base, "google"), Log: &SyncBuffer{}}
	bin := filepath.Join(base, "bin")
	backend := filepath.Join(base, "backend")
	e.BackendDir = backend
	for _, d := range []string{e.ProjectDir, e.StoreDir, bin, backend} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(root, "Pulumi*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("project files %v: %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.ProjectDir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if err := seedBootstrap(e.ProjectDir, e.StoreDir); err != nil {
		t.Fatalf("rehearsal: %v", err)
	}

	// The stand-in for gke-gcloud-auth-plugin: the kubeconfig the program
	// writes runs it, and it answers with the API server's admin token.
	cred, err := json.Marshal(map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1beta1",
		"kind":       "ExecCredential",
		"status":     map[string]any{"token": kube.Token},
	})
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n# stand-in for " + gke.AuthPlugin + " (rehearsal)\ncat <<'EOF'\n" + string(cred) + "\nEOF\n"
	if err := os.WriteFile(filepath.Join(bin, gke.AuthPlugin), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cli, filepath.Join(bin, "pulumi")); err != nil {
		t.Fatal(err)
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: base})
	if err != nil {
		t.Fatalf("pulumi command: %v", err)
	}
	ca, err := os.ReadFile(kube.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	e.cli = cli
	e.vars = map[string]string{
		"PULUMI_HOME":                                 home,
		"PULUMI_BACKEND_URL":                          "file://" + filepath.ToSlash(backend),
		"PULUMI_CONFIG_PASSPHRASE":                    "rehearsal",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PATH":                               bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"ASYNCJOBS_FAKEGCP_STATE_DIR":        e.StoreDir,
		"ASYNCJOBS_FAKEGCP_CLUSTER_ENDPOINT": strings.TrimPrefix(kube.URL, "https://"),
		"ASYNCJOBS_FAKEGCP_CLUSTER_CA":       base64.StdEncoding.EncodeToString(ca),
	}
	e.modelIAMPropagation()
	e.opts = []auto.LocalWorkspaceOption{auto.Pulumi(cmd), auto.PulumiHome(home), auto.EnvVars(e.vars)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("engine output:\n%s", e.Log.Tail(400))
		}
	})
	return e
}

// seedBootstrap puts into the fake Google what the bootstrap program made
// long before any stack's up and what the stacks read: the CronJob
// completions metric of every stack file's cluster project (made more than
// Cloud Monitoring's delay ago, so the overdue alerts can be created).
func seedBootstrap(projectDir, storeDir string) error {
	names, err := stackfile.Stacks(projectDir)
	if err != nil {
		return err
	}
	seeded := map[string]bool{}
	for _, name := range names {
		st, err := stackfile.Load(projectDir, name)
		if err != nil {
			return err
		}
		cfg, err := stacks.LoadStack(name, stacks.Source(st.Config))
		if err != nil {
			return fmt.Errorf("stack file Pulumi.%s.yaml: %w", name, err)
		}
		project := cfg.ClusterProject()
		if seeded[project] {
			continue
		}
		seeded[project] = true
		m := monitoring.CompletionsMetric(project)
		inputs := map[string]any{"description": m.Description, "filter": m.Filter}
		if err := fakegcp.SeedMetric(storeDir, project, m.Name, inputs, time.Now().Add(-24*time.Hour)); err != nil {
			return err
		}
	}
	return nil
}

// modelIAMPropagation turns the stand-in's actAs rule on, with each
// project's deployer as its caller, and points the program's actAs gate at
// an IAM API answered from the fake project with the same rule. The inline
// program runs in this process, so the gate's variables are set here.
func (e *Env) modelIAMPropagation() {
	e.t.Helper()
	names, err := stackfile.Stacks(e.ProjectDir)
	if err != nil {
		e.t.Fatal(err)
	}
	callers := map[string]string{}
	for _, name := range names {
		st, err := stackfile.Load(e.ProjectDir, name)
		if err != nil {
			e.t.Fatal(err)
		}
		var deployers []string
		if v := st.Config[stacks.Namespace+":deployers"]; v != "" {
			if err := json.Unmarshal([]byte(v), &deployers); err != nil {
				e.t.Fatalf("Pulumi.%s.yaml: deployers: %v", name, err)
			}
		}
		project := st.Config[stacks.ProjectKey]
		if len(deployers) == 0 || project == "" {
			continue
		}
		if prev, ok := callers[project]; ok && prev != deployers[0] {
			e.t.Fatalf("project %s is deployed by %s and %s: a rehearsal has one caller per project", project, prev, deployers[0])
		}
		callers[project] = deployers[0]
	}
	rule := &fakegcp.ActAs{Callers: callers, Propagation: Propagation}
	raw, err := json.Marshal(callers)
	if err != nil {
		e.t.Fatal(err)
	}
	e.vars[fakegcp.CallersEnv] = string(raw)
	e.vars[fakegcp.PropagationEnv] = Propagation.String()
	srv := httptest.NewServer(fakegcp.IAMHandler(e.StoreDir, rule, time.Now))
	e.t.Cleanup(srv.Close)
	e.t.Setenv(actas.EndpointEnv, srv.URL)
	e.t.Setenv(actas.IntervalEnv, "250ms")
}

// CLI runs the Pulumi CLI in the scratch project with the rehearsal's
// environment, for commands the Automation API lacks (pulumi state ...).
func (e *Env) CLI(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.cli, args...)
	cmd.Dir = e.ProjectDir
	cmd.Env = os.Environ()
	for k, v := range e.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	_, _ = e.Log.Write(out)
	if err != nil {
		return string(out), fmt.Errorf("pulumi %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Source is the project as the test-stack code sees it: the scratch project
// directory, with Program run inline.
func (e *Env) Source() teststack.InlineSource {
	return teststack.InlineSource{ProjectDir: e.ProjectDir, Project: stacks.Namespace, Program: Program, Options: e.opts}
}

// Stack creates or selects the named stack of the scratch project.
func (e *Env) Stack(ctx context.Context, name string) auto.Stack {
	e.t.Helper()
	s, err := e.Source().Stack(ctx, name)
	if err != nil {
		e.t.Fatalf("stack %s: %v", name, err)
	}
	return s
}

// Manager runs the test-stack lifecycle as `teststack` does, on the scratch
// project.
func (e *Env) Manager() *teststack.Manager {
	return &teststack.Manager{
		Source:    e.Source(),
		SuffixKey: stacks.SuffixKey,
		Overrides: stacks.TestStackOverrides(),
		Protected: []string{"dev", "prod"},
		Log:       e.Log,
	}
}

// Edit replaces old by new in the scratch Pulumi.<stack>.yaml, which must
// hold old exactly once.
func (e *Env) Edit(stack, old, new string) {
	e.t.Helper()
	p := filepath.Join(e.ProjectDir, "Pulumi."+stack+".yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		e.t.Fatalf("Pulumi.%s.yaml holds %q %d times, want once", stack, old, n)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// StackConfig reads the scratch stack file as the engine will see it: the
// project's declared defaults applied, values as the program gets them.
func (e *Env) StackConfig(stack string) map[string]string {
	e.t.Helper()
	proj, err := workspace.LoadProject(filepath.Join(e.ProjectDir, "Pulumi.yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	ps, err := workspace.LoadProjectStack(nil, proj, filepath.Join(e.ProjectDir, "Pulumi."+stack+".yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range ps.Config {
		s, err := v.Value(config.NopDecrypter)
		if err != nil {
			e.t.Fatal(err)
		}
		out[k.String()] = s
	}
	return out
}

// Program is stacks.Program as the rehearsal runs it: Deployments are not
// awaited, since no controller makes them ready.
func Program(ctx *pulumi.Context) error { return ProgramOf(stacks.Program)(ctx) }

// ProgramOf is program (stacks.Program or a variant of it) as the rehearsal
// runs it (see Program).
func ProgramOf(program pulumi.RunFunc) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error { return rehearse(ctx, program) }
}

func rehearse(ctx *pulumi.Context, program pulumi.RunFunc) error {
	var bad error
	err := ctx.RegisterStackTransformation(func(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
		if args.Type != "kubernetes:apps/v1:Deployment" {
			return nil
		}
		dep, ok := args.Props.(*appsv1.DeploymentArgs)
		meta, ok2 := (*metav1.ObjectMetaArgs)(nil), false
		if ok && dep != nil {
			meta, ok2 = dep.Metadata.(*metav1.ObjectMetaArgs)
		}
		if !ok2 || meta == nil {
			bad = fmt.Errorf("rehearsal: Deployment %s: cannot add skipAwait to %T", args.Name, args.Props)
			return nil
		}
		annotations := pulumi.StringMap{}
		if meta.Annotations != nil {
			m, ok := meta.Annotations.(pulumi.StringMap)
			if !ok {
				bad = fmt.Errorf("rehearsal: Deployment %s: annotations are %T", args.Name, meta.Annotations)
				return nil
			}
			for k, v := range m {
				annotations[k] = v
			}
		}
		annotations["pulumi.com/skipAwait"] = pulumi.String("true")
		m := *meta
		m.Annotations = annotations
		d := *dep
		d.Metadata = &m
		return &pulumi.ResourceTransformationResult{Props: &d, Opts: args.Opts}
	})
	if err != nil {
		return err
	}
	if err := program(ctx); err != nil {
		return err
	}
	return bad
}

// Step is one step the engine took or would take for a resource.
type Step struct {
	Op    apitype.OpType
	URN   string
	Type  string
	Diffs []string
	// Detailed holds the property paths of the detailed diff and their kinds.
	Detailed map[string]apitype.DiffKind
}

// Steps collects the engine's resource steps from its event stream.
type Steps struct {
	mu    sync.Mutex
	steps []Step
	done  chan struct{}
}

// NewSteps returns a collector and the channel to hand the engine
// (optpreview.EventStreams, optup.EventStreams, ...).
func NewSteps() (*Steps, chan events.EngineEvent) {
	ch := make(chan events.EngineEvent)
	s := &Steps{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ev := range ch {
			if ev.ResourcePreEvent == nil {
				continue
			}
			md := ev.ResourcePreEvent.Metadata
			st := Step{Op: md.Op, URN: md.URN, Type: md.Type, Diffs: md.Diffs, Detailed: map[string]apitype.DiffKind{}}
			for k, d := range md.DetailedDiff {
				st.Detailed[k] = d.Kind
			}
			s.mu.Lock()
			s.steps = append(s.steps, st)
			s.mu.Unlock()
		}
	}()
	return s, ch
}

// All returns the steps once the engine has closed the stream.
func (s *Steps) All() []Step {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.steps)
}

// Changed returns, by URN, the ops of every step that is not "same" (nor a
// read of a data source or a refresh).
func (s *Steps) Changed() map[string][]apitype.OpType {
	out := map[string][]apitype.OpType{}
	for _, st := range s.All() {
		switch st.Op {
		case apitype.OpSame, apitype.OpRead, apitype.OpRefresh:
			continue
		}
		out[st.URN] = append(out[st.URN], st.Op)
	}
	return out
}

// Resource is a resource of a stack's state, as the engine recorded it.
type Resource struct {
	URN     string         `json:"urn"`
	Type    string         `json:"type"`
	Custom  bool           `json:"custom"`
	ID      string         `json:"id"`
	Parent  string         `json:"parent"`
	Protect bool           `json:"protect"`
	Inputs  map[string]any `json:"inputs"`
	Outputs map[string]any `json:"outputs"`
}

// State exports the stack's state.
func State(ctx context.Context, s auto.Stack) ([]Resource, error) {
	dep, err := s.Export(ctx)
	if err != nil {
		return nil, err
	}
	var d struct {
		Resources []Resource `json:"resources"`
	}
	if err := json.Unmarshal(dep.Deployment, &d); err != nil {
		return nil, err
	}
	return d.Resources, nil
}

// SyncBuffer is a bytes.Buffer safe for the engine's concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Tail returns the last n lines.
func (s *SyncBuffer) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := strings.Split(s.b.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
