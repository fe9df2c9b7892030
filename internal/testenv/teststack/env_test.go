package teststack

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/testenv/pulumicli"
)

// testProject is the project name of the temporary project directories.
const testProject = "asyncjobs"

// templateYAML is the template stack file the tests create test stacks from.
const templateYAML = `config:
  asyncjobs:region: asia-northeast1
  asyncjobs:protect: true
  asyncjobs:worker:
    name: worker
    maxInstances: 1
`

// program stands in for the cloud program: one component resource (so that
// destroy has something to delete) and outputs that show the configuration
// the engine handed it.
func program(ctx *pulumi.Context) error {
	var thing pulumi.ResourceState
	if err := ctx.RegisterComponentResource("asyncjobs:test:Thing", "thing", &thing); err != nil {
		return err
	}
	get := func(key string) string {
		v, _ := ctx.GetConfig(testProject + ":" + key)
		return v
	}
	for _, key := range []string{"nameSuffix", "protect", "region", "worker"} {
		ctx.Export(key, pulumi.String(get(key)))
	}
	if tok, ok := ctx.GetConfig(testProject + ":token"); ok {
		ctx.Export("token", pulumi.ToSecret(pulumi.String(tok)))
	}
	return nil
}

// env is a temporary project directory and file backend driven through the
// real Pulumi CLI.
type env struct {
	t       *testing.T
	dir     string
	backend string
	opts    []auto.LocalWorkspaceOption
	vars    map[string]string
	bin     string
	log     *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	bin := pulumicli.Path(t)
	// auto.NewPulumiCommand looks for <root>/bin/pulumi.
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
	if err != nil {
		t.Fatalf("pulumi command: %v", err)
	}
	base := t.TempDir()
	e := &env{t: t, dir: filepath.Join(base, "project"), backend: filepath.Join(base, "backend"), log: &syncBuffer{}}
	for _, d := range []string{e.dir, e.backend, filepath.Join(base, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write("Pulumi.yaml", "name: "+testProject+"\nruntime: go\ndescription: teststack test project\n")
	e.write("Pulumi.dev.yaml", templateYAML)
	e.bin = bin
	e.vars = map[string]string{
		"PULUMI_HOME":                                 filepath.Join(base, "home"),
		"PULUMI_BACKEND_URL":                          "file://" + filepath.ToSlash(e.backend),
		"PULUMI_CONFIG_PASSPHRASE":                    "test",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
	}
	e.opts = []auto.LocalWorkspaceOption{auto.Pulumi(cmd), auto.EnvVars(e.vars)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("teststack log:\n%s", e.log.String())
		}
	})
	return e
}

func (e *env) write(name, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) source() InlineSource {
	return InlineSource{ProjectDir: e.dir, Project: testProject, Program: program, Options: e.opts}
}

// manager returns a Manager on the inline source with the clock at now.
func (e *env) manager(now time.Time) *Manager {
	return &Manager{
		Source:    e.source(),
		SuffixKey: "asyncjobs:nameSuffix",
		Overrides: map[string]config.Value{"asyncjobs:protect": config.NewTypedValue("false", config.TypeBool)},
		Protected: []string{"dev", "prod"},
		Now:       func() time.Time { return now },
		Log:       e.log,
	}
}

func (e *env) workspace() auto.Workspace {
	e.t.Helper()
	ws, err := e.source().Workspace(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// stacks lists the stack names in the backend.
func (e *env) stacks() map[string]bool {
	e.t.Helper()
	list, err := e.workspace().ListStacks(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range list {
		out[s.Name] = true
	}
	return out
}

// plainStack creates a stack without any teststack record and deploys it,
// as someone running pulumi by hand would.
func (e *env) plainStack(name string) {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.source().Stack(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.SetConfig(ctx, "asyncjobs:region", auto.ConfigValue{Value: "asia-northeast1"}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := s.Up(ctx); err != nil {
		e.t.Fatalf("up %s: %v", name, err)
	}
}

// forgetLocal deletes a stack's local settings file, as a fresh checkout has none.
func (e *env) forgetLocal(name string) {
	e.t.Helper()
	p, ok := settingsFile(e.dir, name)
	if !ok {
		e.t.Fatalf("%s has no settings file", name)
	}
	if err := os.Remove(p); err != nil {
		e.t.Fatal(err)
	}
}

// lock puts a foreign lock on a stack in the file backend, as a crashed or
// concurrent update would leave it: every update and destroy then fails.
func (e *env) lock(name string) (unlock func()) {
	e.t.Helper()
	dir := filepath.Join(e.backend, ".pulumi", "locks", "organization", testProject, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"pid": 1, "username": "ci", "hostname": "elsewhere", "timestamp": time.Now()})
	p := filepath.Join(dir, "00000000-0000-0000-0000-000000000000.json")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return func() {
		if err := os.Remove(p); err != nil {
			e.t.Fatal(err)
		}
	}
}

// cli runs the Pulumi CLI in the project directory against the test
// backend, as an operator would, and fails the test when it fails.
func (e *env) cli(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(e.bin, append(args, "--non-interactive")...)
	cmd.Dir = e.dir
	cmd.Env = os.Environ()
	for k, v := range e.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("pulumi %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// syncBuffer is a bytes.Buffer safe for the engine's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
