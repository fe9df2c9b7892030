package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"

	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
)

// The GitHub workflows are checked here because they run this program's
// outputs: every repository variable they read must be one the bootstrap
// stack exports.
const workflowDir = "../.github/workflows"

func workflowFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(workflowDir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(workflowDir, "*.yaml"))
	files = append(files, more...)
	sort.Strings(files)
	if len(files) < 4 {
		t.Fatalf("found %d workflows in %s, want at least 4", len(files), workflowDir)
	}
	return files
}

// workflow is a committed workflow file: its name and its text.
type workflow struct {
	name string
	src  []byte
}

// readWorkflows reads every committed workflow.
func readWorkflows(t *testing.T) []workflow {
	t.Helper()
	var out []workflow
	for _, f := range workflowFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, workflow{name: filepath.Base(f), src: src})
	}
	return out
}

// exportedVariables are the repository variables the bootstrap stack
// tells the user to set (its githubVariables output).
func exportedVariables(t *testing.T) []string {
	t.Helper()
	vars, ok := recordExample(t).Outputs["githubVariables"].(map[string]any)
	if !ok || len(vars) == 0 {
		t.Fatal("the example stack exports no githubVariables")
	}
	var names []string
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// handSetVariables are the repository variables a maintainer sets by hand,
// not from the bootstrap's outputs: the pinned checksums of the release
// archives of the plugins scripts/plugins.sh installs (the gcp one also
// for make plan-diff, docs/planning.md#plan-diff).
var handSetVariables = []string{"ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256", "ASYNCJOBS_KUBERNETES_PLUGIN_ARCHIVE_SHA256", "ASYNCJOBS_POLICY_OPA_ARCHIVE_SHA256"}

// TestActionlint lints every workflow with actionlint, and shellcheck on the
// run: scripts (not under -short). Repository
// variables are checked against the bootstrap outputs and handSetVariables.
func TestActionlint(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "actionlint.yaml")
	var b strings.Builder
	b.WriteString("config-variables:\n")
	for _, v := range append(exportedVariables(t), handSetVariables...) {
		b.WriteString("  - " + v + "\n")
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	shellcheck := ""
	if testing.Short() {
		t.Log("-short: the run: scripts are not checked with shellcheck (make test checks them)")
	} else {
		shellcheck = toolcache.Path(t, "shellcheck")
	}
	var out bytes.Buffer
	linter, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{
		Shellcheck: shellcheck,
		ConfigFile: cfg,
		Oneline:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := linter.LintFiles(workflowFiles(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
	// The linter must be able to fail: an undefined variable is an error.
	bad := []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ vars.NOT_EXPORTED }}\n")
	if errs, err := linter.Lint("bad.yml", bad, nil); err != nil || len(errs) == 0 {
		t.Errorf("actionlint accepted an undefined variable (errs %v, err %v)", errs, err)
	}
}

var (
	usesLineRE = regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(\S+)(.*)$`)
	pinnedRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)
	versionRE  = regexp.MustCompile(`^\s+# v\d+(\.\d+)*\s*$`)
)

// TestActionsPinned: every action is pinned to a full commit SHA, with a
// comment naming the version.
func TestActionsPinned(t *testing.T) {
	n := 0
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for i, line := range strings.Split(string(src), "\n") {
			m := usesLineRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			n++
			ref, rest := m[1], m[2]
			if strings.HasPrefix(ref, "./") {
				continue // an action of this repository
			}
			if !pinnedRE.MatchString(ref) {
				t.Errorf("%s:%d: %s is not pinned to a 40-hex commit SHA", f, i+1, ref)
			}
			if !versionRE.MatchString(rest) {
				t.Errorf("%s:%d: %s has no '# vX.Y.Z' comment naming its version", f, i+1, ref)
			}
		}
		// The parsed workflow agrees with the line scan: no uses: hides from it.
		wf, errs := actionlint.Parse(src)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for id, job := range wf.Jobs {
			if job.WorkflowCall != nil && !pinnedRE.MatchString(job.WorkflowCall.Uses.Value) && !strings.HasPrefix(job.WorkflowCall.Uses.Value, "./") {
				t.Errorf("%s: job %s calls %s, not pinned", f, id, job.WorkflowCall.Uses.Value)
			}
			for _, s := range job.Steps {
				if a, ok := s.Exec.(*actionlint.ExecAction); ok && !pinnedRE.MatchString(a.Uses.Value) {
					t.Errorf("%s: job %s uses %s, not pinned", f, id, a.Uses.Value)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d uses: lines found", n)
	}
	// The check can fail.
	if pinnedRE.MatchString("actions/checkout@v5") || !versionRE.MatchString(" # v5.0.0") {
		t.Fatal("pin patterns are broken")
	}
}

// TestPermissions: no workflow grants anything by default; id-token: write
// only where Google Cloud auth happens, pull-requests: write only where a
// comment is posted, and nothing else is ever written.
func TestPermissions(t *testing.T) {
	jobs := 0
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		wf, errs := actionlint.Parse(src)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		if wf.Permissions == nil || wf.Permissions.All != nil || len(wf.Permissions.Scopes) != 0 {
			t.Errorf("%s: top-level permissions must be {}", f)
		}
		for id, job := range wf.Jobs {
			jobs++
			where := filepath.Base(f) + " job " + id
			if job.Permissions == nil || job.Permissions.All != nil {
				t.Errorf("%s: no explicit per-scope permissions", where)
				continue
			}
			auth, comments := false, false
			for _, s := range job.Steps {
				switch e := s.Exec.(type) {
				case *actionlint.ExecAction:
					uses := e.Uses.Value
					if strings.HasPrefix(uses, "google-github-actions/auth@") {
						auth = true
						for _, k := range []string{"workload_identity_provider", "service_account"} {
							if in, ok := e.Inputs[k]; !ok || !strings.Contains(in.Value.Value, "vars.") {
								t.Errorf("%s: auth input %s must come from a repository variable", where, k)
							}
						}
						if _, ok := e.Inputs["credentials_json"]; ok {
							t.Errorf("%s: a service-account key is used", where)
						}
					}
					if in, ok := e.Inputs["comment-on-pr"]; ok && strings.HasPrefix(uses, "pulumi/actions@") && in.Value.Value == "true" {
						comments = true
					}
				case *actionlint.ExecRun:
					if strings.Contains(e.Run.Value, "/comments") {
						comments = true
					}
				}
			}
			for name, scope := range job.Permissions.Scopes {
				v := scope.Value.Value
				switch {
				case v != "write":
				case name == "id-token" && auth:
				case name == "pull-requests" && comments:
				default:
					t.Errorf("%s: %s: write is not needed", where, name)
				}
			}
			if auth && !hasScope(job, "id-token", "write") {
				t.Errorf("%s: authenticates without id-token: write", where)
			}
			if comments && !hasScope(job, "pull-requests", "write") {
				t.Errorf("%s: comments without pull-requests: write", where)
			}
		}
	}
	if jobs < 8 {
		t.Fatalf("only %d jobs checked", jobs)
	}
}

func hasScope(job *actionlint.Job, name, value string) bool {
	s, ok := job.Permissions.Scopes[name]
	return ok && s.Value.Value == value
}

// TestSecretsUsed: the only secrets are the GitHub token and the optional
// Pulumi Cloud tokens; cloud access is always workload identity federation.
// The token that can write prod (PULUMI_ACCESS_TOKEN_PROD, a secret of the
// production environment only) is read only by jobs in that environment,
// and those read no other Pulumi token.
func TestSecretsUsed(t *testing.T) {
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range secretProblems(t, f, src) {
			t.Error(p)
		}
		if strings.Contains(string(src), "credentials_json") || strings.Contains(string(src), "GOOGLE_CREDENTIALS") {
			t.Errorf("%s passes a service-account key", f)
		}
	}
	for _, tc := range []struct {
		name, job string
		want      int
	}{
		{"prod token in production", "    environment: production\n" +
			"    steps:\n      - run: echo\n        env:\n          T: ${{ secrets.PULUMI_ACCESS_TOKEN_PROD }}\n", 0},
		{"prod token outside production", "    steps:\n      - run: echo\n        env:\n          T: ${{ secrets.PULUMI_ACCESS_TOKEN_PROD }}\n", 1},
		{"repository token in production", "    environment: production\n" +
			"    steps:\n      - run: echo\n        env:\n          T: ${{ secrets.PULUMI_ACCESS_TOKEN }}\n", 1},
		{"another secret", "    steps:\n      - run: echo\n        env:\n          T: ${{ secrets.GCP_KEY }}\n", 1},
	} {
		src := []byte("on: push\njobs:\n  j:\n    runs-on: ubuntu-24.04\n" + tc.job)
		if got := secretProblems(t, tc.name, src); len(got) != tc.want {
			t.Errorf("%s: %d problems, want %d: %v", tc.name, len(got), tc.want, got)
		}
	}
}

var secretRE = regexp.MustCompile(`secrets\.([A-Za-z0-9_]+)`)

// secretProblems checks the secrets each job of a workflow reads.
func secretProblems(t *testing.T, name string, src []byte) []string {
	t.Helper()
	var raw struct {
		Jobs map[string]any `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(src, &raw); err != nil {
		t.Fatal(err)
	}
	wf := parseWorkflow(t, src)
	allowed := map[string]bool{"GITHUB_TOKEN": true, "PULUMI_ACCESS_TOKEN": true, "PULUMI_ACCESS_TOKEN_PROD": true}
	var problems []string
	for _, id := range sortedKeys(raw.Jobs) {
		body, err := yaml.Marshal(raw.Jobs[id])
		if err != nil {
			t.Fatal(err)
		}
		production := environmentName(wf.Jobs[id]) == "production"
		for _, m := range secretRE.FindAllStringSubmatch(string(body), -1) {
			switch {
			case !allowed[m[1]]:
				problems = append(problems, fmt.Sprintf("%s job %s uses secret %s", name, id, m[1]))
			case m[1] == "PULUMI_ACCESS_TOKEN_PROD" && !production:
				problems = append(problems, fmt.Sprintf("%s job %s reads PULUMI_ACCESS_TOKEN_PROD outside the production environment", name, id))
			case m[1] == "PULUMI_ACCESS_TOKEN" && production:
				problems = append(problems, fmt.Sprintf("%s job %s runs in production with the repository's PULUMI_ACCESS_TOKEN, "+
					"which pull-request jobs can read: use PULUMI_ACCESS_TOKEN_PROD", name, id))
			}
		}
	}
	return problems
}

// environmentName is the GitHub environment a job declares ("" for none).
func environmentName(job *wfJob) string {
	switch e := job.Environment.(type) {
	case string:
		return e
	case map[string]any:
		n, _ := e["name"].(string)
		return n
	}
	return ""
}
