package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/testenv/pulumicli"
	"github.com/asyncjobs/asyncjobs/internal/testenv/teststack"
)

// repoRoot holds the project's Pulumi.yaml and stack files.
const repoRoot = "../.."

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{env: env}
	code := cli.Run(context.Background(), "teststack", a.run, args, nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestUsage: bad invocations are refused before any Pulumi command runs
// (the Pulumi CLI is not needed for these).
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"missing command", "usage: teststack up|destroy|sweep|providers [flags]"}},
		{[]string{"bogus"}, []string{`unknown command "bogus"`, "usage: teststack up|destroy|sweep|providers [flags]"}},
		{[]string{"--name", "pr-1", "up"}, []string{"flag --name before the command"}},
		{[]string{"up", "--name", "pr-1"}, []string{"--from is required", "usage: teststack up --name NAME --from TEMPLATE"}},
		{[]string{"up"}, []string{"--name is required", "--from is required"}},
		{[]string{"up", "--name", "dev", "--from", "dev"}, []string{`stack "dev" is protected`}},
		{[]string{"up", "--name", "pr-1", "--from", "dev", "--ttl", "1s"}, []string{"ttl 1s"}},
		{[]string{"up", "--name", "pr-1", "--from", "dev", "--ttl", "1000h"}, []string{"ttl 1000h"}},
		{[]string{"up", "--name", "pr 1", "--from", "dev"}, []string{"stack name"}},
		{[]string{"destroy"}, []string{"--name is required"}},
		{[]string{"destroy", "--name", "prod", "--force"}, []string{`stack "prod" is protected`}},
		{[]string{"destroy", "--name", "dev", "--protected", "staging"}, []string{`stack "dev" is protected`}},
		{[]string{"destroy", "--name", "staging", "--protected", "staging"}, []string{`stack "staging" is protected`}},
		{[]string{"sweep"}, []string{`prefix ""`}},
		{[]string{"sweep", "--prefix", "d"}, []string{`prefix "d"`}},
		{[]string{"sweep", "--prefix", "p"}, []string{`prefix "p"`}},
		{[]string{"sweep", "--prefix", "pr-", "--older-than", "-1h"}, []string{"--older-than must not be negative"}},
		{[]string{"sweep", "--prefix", "pr-", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"sweep", "--prefix", "pr-", "--name", "pr-1"}, []string{"not both"}},
		{[]string{"sweep", "--name", "prod"}, []string{`stack "prod" is protected`}},
		{[]string{"sweep", "--prefx", "pr-"}, []string{"flag provided but not defined"}},
	} {
		code, _, stderr := runCmd(t, nil, tc.args...)
		if code != cli.ExitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, cli.ExitUsage, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q: stderr %q lacks %q", tc.args, stderr, w)
			}
		}
	}
}

// TestValidator: the test stack's configuration is checked like make plan
// checks a stack file, before anything is created.
func TestValidator(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join(repoRoot, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := workspace.LoadProjectStack(nil, proj, filepath.Join(repoRoot, "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	with := func(key string, v config.Value) *workspace.ProjectStack {
		cfg := config.Map{}
		for k, v := range dev.Config {
			cfg[k] = v
		}
		cfg[config.MustParseKey(key)] = v
		cfg[config.MustParseKey("asyncjobs:protect")] = config.NewTypedValue("false", config.TypeBool)
		cfg[config.MustParseKey("teststack:created")] = config.NewValue("2030-01-02T03:04:05Z")
		return &workspace.ProjectStack{Config: cfg}
	}
	check := validator(repoRoot)
	if err := check(context.Background(), "pr-1", with("asyncjobs:nameSuffix", config.NewValue("ab12cd"))); err != nil {
		t.Errorf("dev template with test overrides rejected: %v", err)
	}
	err = check(context.Background(), "pr-1", with("asyncjobs:nameSuffix", config.NewValue("Not_OK")))
	if err == nil || !strings.Contains(err.Error(), "asyncjobs:nameSuffix") {
		t.Errorf("bad suffix: err = %v, want one naming asyncjobs:nameSuffix", err)
	}
}

// TestAgainstBackend runs the command itself (local project source) with the
// real Pulumi CLI and a file backend: the commands that need no language
// host, and an up whose configuration is rejected before anything exists.
func TestAgainstBackend(t *testing.T) {
	bin := pulumicli.Path(t)
	binDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(binDir, "pulumi")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	base := t.TempDir()
	dir := filepath.Join(base, "project")
	backend := filepath.Join(base, "backend")
	for _, d := range []string{dir, backend, filepath.Join(base, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml", "go.mod"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := "config:\n  gcp:project: asyncjobs-dev\n  asyncjobs:region: asia-northeast1\n" +
		"  asyncjobs:worker:\n    name: worker\n    image: example.com/w:1\n    maxInstances: 0\n"
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.bad.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PULUMI_HOME":              filepath.Join(base, "home"),
		"PULUMI_BACKEND_URL":       "file://" + filepath.ToSlash(backend),
		"PULUMI_CONFIG_PASSPHRASE": "test",
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		// Plugins come only from pinned files, never from a download.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
	}

	// Without the provider pins nothing runs.
	code, stdout, stderr := runCmd(t, env, "sweep", "--dir", dir, "--prefix", "pr-", "--dry-run", "--go-mod", filepath.Join(base, "none"))
	if code != cli.ExitFailed || !strings.Contains(stderr, "reading the provider pins") {
		t.Errorf("sweep without go.mod: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, env, "providers", "--dir", dir, "--stack", "dev")
	if code != cli.ExitOK || !strings.Contains(stdout, "dev: no such stack; nothing to check") {
		t.Errorf("providers of a missing stack: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, env, "sweep", "--dir", dir, "--prefix", "pr-", "--dry-run")
	if code != cli.ExitOK || !strings.Contains(stdout, "0 stacks under the prefix") {
		t.Errorf("sweep on an empty backend: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, env, "destroy", "--dir", dir, "--name", "pr-404")
	if code != cli.ExitOK || !strings.Contains(stdout, "pr-404: no such stack") {
		t.Errorf("destroy of a missing stack: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, env, "up", "--dir", dir, "--name", "pr-1", "--from", "bad")
	if code != cli.ExitFailed || !strings.Contains(stderr, "stack pr-1: validate configuration") || !strings.Contains(stderr, "asyncjobs:worker.maxInstances") {
		t.Errorf("up from an invalid template: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "Pulumi.pr-1.yaml")); err == nil {
		t.Error("Pulumi.pr-1.yaml was written for a rejected configuration")
	}
	code, stdout, stderr = runCmd(t, env, "sweep", "--dir", dir, "--prefix", "pr-")
	if code != cli.ExitOK || !strings.Contains(stdout, "0 stacks under the prefix") {
		t.Errorf("a stack was created for a rejected configuration: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// TestProvidersAgainstBackend runs the command with the real Pulumi CLI on
// states imported into a file backend: a state the program wrote passes
// providers (dev too: it only reads); once a provider with a
// pluginDownloadURL is planted in it, as a pull request acting as the dev
// deployer could, providers and destroy refuse it with the reason, and the
// stack stays. Every Pulumi command runs with automatic plugin
// acquisition disabled, whatever the caller's environment says.
func TestProvidersAgainstBackend(t *testing.T) {
	bin := pulumicli.Path(t)
	base := t.TempDir()
	dir := filepath.Join(base, "project")
	backend := filepath.Join(base, "backend")
	for _, d := range []string{dir, backend, filepath.Join(base, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	binDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(binDir, "pulumi")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	files := map[string]string{
		"Pulumi.yaml": "name: asyncjobs\nruntime: go\n",
		// The versions of the providers in the imported state.
		"go.mod": "module example.com/x\n\ngo 1.26\n\n" +
			"require (\n\tgithub.com/pulumi/pulumi-gcp/sdk/v7 v7.38.0\n\tgithub.com/pulumi/pulumi-kubernetes/sdk/v4 v4.25.0\n)\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"PULUMI_HOME":              filepath.Join(base, "home"),
		"PULUMI_BACKEND_URL":       "file://" + filepath.ToSlash(backend),
		"PULUMI_CONFIG_PASSPHRASE": "test",
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		// teststack sets it to true regardless.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "false",
	}
	pulumi := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--non-interactive")...)
		cmd.Dir = dir
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pulumi %v: %v\n%s", args, err, out)
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "testenv", "teststack", "testdata", "pinned-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	load := func(stack, extra string) {
		t.Helper()
		s := strings.ReplaceAll(string(raw), "urn:pulumi:STACK::PROJECT::", "urn:pulumi:"+stack+"::asyncjobs::")
		if extra != "" {
			i := strings.LastIndex(s, "]")
			s = s[:i] + "," + strings.ReplaceAll(extra, "STACK", stack) + s[i:]
		}
		p := filepath.Join(base, stack+".json")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		pulumi("stack", "init", stack)
		pulumi("stack", "import", "--stack", stack, "--file", p)
	}
	load("dev", "")
	code, stdout, stderr := runCmd(t, env, "providers", "--dir", dir, "--stack", "dev")
	if code != cli.ExitOK || !strings.Contains(stdout, "2 providers, each a pinned plugin (gcp 7.38.0, kubernetes 4.25.0)") {
		t.Errorf("providers of the program's own state: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}

	planted := `{"urn": "urn:pulumi:STACK::asyncjobs::pulumi:providers:gcp::planted", "custom": true, "id": "1", "type": "pulumi:providers:gcp",
		"inputs": {"__internal": {"pluginDownloadURL": "https://plugins.invalid/"}, "version": "7.38.0"}, "outputs": {"version": "7.38.0"}}`
	load("pr-5", planted)
	code, stdout, stderr = runCmd(t, env, "providers", "--dir", dir, "--stack", "pr-5")
	if code != cli.ExitFailed || !strings.Contains(stderr, `pulumi:providers:gcp::planted: inputs: __internal.pluginDownloadURL "https://plugins.invalid/"`) ||
		!strings.Contains(stderr, "refusing to touch it") {
		t.Errorf("providers of a planted state: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, env, "destroy", "--dir", dir, "--name", "pr-5", "--force")
	if code != cli.ExitFailed || !strings.Contains(stderr, "stack pr-5: check providers") || !strings.Contains(stderr, "pluginDownloadURL") {
		t.Errorf("destroy of a planted state: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, env, "sweep", "--dir", dir, "--prefix", "pr-", "--dry-run")
	if code != cli.ExitOK || !strings.Contains(stdout, "pr-5") {
		t.Errorf("pr-5 is gone after the refused destroy: exit %d\n%s", code, stdout)
	}
}

// TestSweepReport: every outcome is listed, failures in full below the table.
func TestSweepReport(t *testing.T) {
	now := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	meta := func(age time.Duration) *teststack.Meta {
		return &teststack.Meta{Created: now.Add(-age), TTL: 24 * time.Hour, Owner: "alice"}
	}
	r := &teststack.SweepReport{Prefix: "pr-", Outside: 2, Outcomes: []teststack.Outcome{
		{Stack: "pr-1", Result: teststack.Destroyed, Meta: meta(48 * time.Hour), Age: 48 * time.Hour, Limit: 24 * time.Hour},
		{Stack: "pr-2", Result: teststack.Failed, Meta: meta(30 * time.Hour), Age: 30*time.Hour + 90*time.Second, Limit: 24 * time.Hour,
			Err: errors.New("stack pr-2: destroy: locked\nsecond line"), Detail: "stack pr-2: destroy: locked\nsecond line"},
		{Stack: "pr-3", Result: teststack.Kept, Meta: meta(time.Hour), Age: time.Hour, Limit: 24 * time.Hour},
		{Stack: "pr-x", Result: teststack.Skipped, Detail: "not a test stack: no teststack metadata"},
	}}
	var b bytes.Buffer
	writeSweep(&b, r, now)
	out := b.String()
	for _, want := range []string{
		`sweep of prefix "pr-" at 2030-01-03T00:00:00Z: 4 stacks under the prefix, 2 outside it (untouched)`,
		"pr-1   destroyed  48h00m  24h00m  alice  ",
		"pr-2   FAILED     30h02m  24h00m  alice  stack pr-2: destroy: locked ...",
		"pr-3   kept       1h00m   24h00m  alice",
		"pr-x   skipped    -       -       -      not a test stack: no teststack metadata",
		"pr-2 failed:\nstack pr-2: destroy: locked\nsecond line",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestSubcommandHelp: --help on a subcommand exits 0 and lists its flags
// with double dashes, on stdout; so does teststack's own.
func TestSubcommandHelp(t *testing.T) {
	for _, sub := range []string{"up", "destroy", "sweep", "providers"} {
		for _, h := range []string{"--help", "-h"} {
			code, stdout, stderr := runCmd(t, nil, sub, h)
			if code != cli.ExitOK {
				t.Errorf("%s %s: exit %d, want 0", sub, h, code)
			}
			if !strings.HasPrefix(stdout, "usage: teststack "+sub+" ") || !strings.Contains(stdout, "  --dir") || strings.Contains(stdout, "\n  -dir") {
				t.Errorf("%s %s: no usage, or flags not shown with double dashes:\n%s", sub, h, stdout)
			}
			if stderr != "" {
				t.Errorf("%s %s: stderr %q", sub, h, stderr)
			}
		}
	}
	_, stdout, _ := runCmd(t, nil, "sweep", "--help")
	for _, w := range []string{"--prefix", "--name", "--older-than", "--dry-run", "Exit status"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("sweep --help lacks %s:\n%s", w, stdout)
		}
	}
	for _, h := range []string{"-h", "--help", "help"} {
		code, stdout, stderr := runCmd(t, nil, h)
		if code != cli.ExitOK || stderr != "" || !strings.HasPrefix(stdout, "usage: teststack up|destroy|sweep|providers [flags]") {
			t.Errorf("teststack %s: exit %d, stderr %q, stdout:\n%s", h, code, stderr, stdout)
		}
		for _, sub := range []string{"up --name NAME --from TEMPLATE", "destroy", "sweep --prefix PREFIX", "providers --stack NAME", "Common flags"} {
			if !strings.Contains(stdout, sub) {
				t.Errorf("teststack %s lacks %q:\n%s", h, sub, stdout)
			}
		}
	}
}

func TestSweepReportCountsStacks(t *testing.T) {
	now := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	for n, want := range map[int]string{0: "0 stacks under", 1: "1 stack under", 2: "2 stacks under"} {
		r := &teststack.SweepReport{Prefix: "pr-"}
		for i := range n {
			r.Outcomes = append(r.Outcomes, teststack.Outcome{Stack: fmt.Sprintf("pr-%d", i), Result: teststack.Kept})
		}
		var b bytes.Buffer
		writeSweep(&b, r, now)
		if !strings.Contains(b.String(), want) {
			t.Errorf("%d stacks: report %q lacks %q", n, b.String(), want)
		}
	}
}
