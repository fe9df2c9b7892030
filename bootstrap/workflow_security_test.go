package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"

	"github.com/asyncjobs/asyncjobs/internal/testenv/pulumicli"
	"github.com/asyncjobs/asyncjobs/internal/testenv/teststack"
)

// The routes around the pools' conditions that a workflow could open: a
// job that mints tokens for an event anyone can cause, a checkout of a
// pull request's code where secrets are, plugins a stack's state names,
// caches a pull-request-influenced job leaves for production, production
// running before the GitHub settings it relies on are checked.

// forkTriggered are events whose runs execute the default branch's
// workflow, with this repository's token, secrets and ids, for anyone who
// can open a pull request or comment (from a fork too).
var forkTriggered = map[string]bool{
	"pull_request_target": true, "workflow_run": true, "issue_comment": true,
	"pull_request_review": true, "pull_request_review_comment": true,
	"discussion": true, "discussion_comment": true, "issues": true, "fork": true, "watch": true,
}

// headRefRE finds an expression naming a pull request's code.
var headRefRE = regexp.MustCompile(`github\.event\.pull_request\.head|github\.head_ref|github\.event\.workflow_run\.head|` +
	`refs/pull/|github\.event\.issue\.pull_request|gh pr checkout`)

func parseActionlint(t *testing.T, name string, src []byte) *actionlint.Workflow {
	t.Helper()
	wf, errs := actionlint.Parse(src)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", name, errs)
	}
	return wf
}

// triggerProblems: a job may mint OIDC tokens only in a workflow whose
// every trigger is an event the repository's pool admits
// (RepositoryEvents), and a workflow a fork can trigger in this
// repository's context never checks out or fetches a pull request's code.
func triggerProblems(t *testing.T, name string, src []byte) []string {
	t.Helper()
	wf := parseActionlint(t, name, src)
	var events []string
	for _, e := range wf.On {
		events = append(events, e.EventName())
	}
	var problems []string
	for _, id := range sortedKeys(wf.Jobs) {
		job := wf.Jobs[id]
		mints := job.Permissions != nil && (hasScope(job, "id-token", "write") ||
			(job.Permissions.All != nil && job.Permissions.All.Value == "write-all"))
		for _, e := range events {
			if mints && !slices.Contains(RepositoryEvents, e) {
				problems = append(problems, fmt.Sprintf(
					"%s job %s can mint OIDC tokens (id-token: write) in a workflow triggered by %s, an event the pools do not admit (RepositoryEvents)",
					name, id, e))
			}
		}
		if !slices.ContainsFunc(events, func(e string) bool { return forkTriggered[e] }) {
			continue
		}
		for i, s := range job.Steps {
			switch e := s.Exec.(type) {
			case *actionlint.ExecAction:
				if !strings.HasPrefix(e.Uses.Value, "actions/checkout@") {
					continue
				}
				for _, k := range []string{"ref", "repository"} {
					if in, ok := e.Inputs[k]; ok && in.Value != nil && headRefRE.MatchString(in.Value.Value) {
						problems = append(problems, fmt.Sprintf("%s job %s step %d checks out the pull request's code (%s: %s) "+
							"in a workflow triggered by %v, which runs with this repository's token and secrets", name, id, i+1, k, in.Value.Value, events))
					}
				}
			case *actionlint.ExecRun:
				if e.Run != nil && headRefRE.MatchString(e.Run.Value) && (strings.Contains(e.Run.Value, "git ") || strings.Contains(e.Run.Value, "gh pr checkout")) {
					problems = append(problems, fmt.Sprintf("%s job %s step %d fetches the pull request's code in a workflow triggered by %v", name, id, i+1, events))
				}
			}
		}
	}
	return problems
}

// TestForkTriggeredWorkflowsMintNoTokens: no workflow gives id-token:
// write to a job triggered by an event the pools refuse (a
// pull_request_target or workflow_run job would hand forks the dev
// deployer and the prod previewer, were the pools to admit it), and no
// fork-triggerable workflow checks out a pull request's head.
func TestForkTriggeredWorkflowsMintNoTokens(t *testing.T) {
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range triggerProblems(t, f, src) {
			t.Error(p)
		}
	}
	checkoutHead := "      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0\n" +
		"        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
	job := func(on, perms, steps string) []byte {
		return []byte("on: " + on + "\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-24.04\n    permissions:\n" + perms + "    steps:\n" + steps)
	}
	for _, tc := range []struct {
		name string
		src  []byte
		want int
	}{
		{"pull_request with id-token", job("pull_request", "      id-token: write\n", "      - run: echo\n"), 0},
		{"pull_request_target with id-token", job("pull_request_target", "      id-token: write\n", "      - run: echo\n"), 1},
		{"workflow_run with id-token", job("{workflow_run: {workflows: [x], types: [completed]}}", "      id-token: write\n", "      - run: echo\n"), 1},
		{"issue_comment with write-all", []byte("on: issue_comment\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-24.04\n" +
			"    permissions: write-all\n    steps:\n      - run: echo\n"), 1},
		{"pull_request_target checking out the head", job("pull_request_target", "      contents: read\n", checkoutHead), 1},
		{"pull_request checking out the head", job("pull_request", "      contents: read\n", checkoutHead), 0},
		{"workflow_run fetching the head", job("{workflow_run: {workflows: [x], types: [completed]}}", "      contents: read\n",
			"      - run: git fetch origin \"${{ github.event.workflow_run.head_sha }}\"\n"), 1},
		{"pull_request_target with id-token checking out the head", job("pull_request_target", "      id-token: write\n", checkoutHead), 2},
	} {
		if got := triggerProblems(t, tc.name, tc.src); len(got) != tc.want {
			t.Errorf("%s: %d problems, want %d: %v", tc.name, len(got), tc.want, got)
		}
	}
}

// mergedEnv is a step's environment: the workflow's, the job's, the step's.
func mergedEnv(wf *wfFile, job *wfJob, s *wfStep) map[string]string {
	env := map[string]string{}
	for _, m := range []map[string]string{wf.Env, job.Env, s.Env} {
		for k, v := range m {
			env[k] = v
		}
	}
	return env
}

// runsCLI says whether a step runs the Pulumi CLI, and why.
func runsCLI(s *wfStep) string {
	switch {
	case strings.HasPrefix(s.Uses, "pulumi/actions@") && s.With["command"] != "":
		return "pulumi " + s.With["command"]
	case teststackRE.MatchString(s.Run):
		return "teststack " + teststackRE.FindStringSubmatch(s.Run)[1]
	case pluginsRE.MatchString(s.Run):
		return "scripts/plugins.sh"
	case commandRE("pulumi").MatchString(s.Run):
		return "pulumi"
	}
	return ""
}

// acquisitionProblems: every step that runs the Pulumi CLI does so with
// PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true, so the engine never
// downloads a plugin a stack's state or program names.
func acquisitionProblems(t *testing.T, name string, src []byte) []string {
	t.Helper()
	wf := parseWorkflow(t, src)
	var problems []string
	for _, id := range sortedKeys(wf.Jobs) {
		job := wf.Jobs[id]
		for i, s := range job.Steps {
			if why := runsCLI(s); why != "" && mergedEnv(wf, job, s)["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] != "true" {
				problems = append(problems, fmt.Sprintf("%s job %s %s runs %s without PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true: "+
					"the engine would download and run any plugin a stack's state names", name, id, s.label(i), why))
			}
		}
	}
	return problems
}

// TestPluginAcquisitionDisabled: see acquisitionProblems; the plugins the
// jobs run are installed by scripts/plugins.sh only (pinned versions,
// checksums), never by a bare `pulumi plugin install`.
func TestPluginAcquisitionDisabled(t *testing.T) {
	n := 0
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range acquisitionProblems(t, f, src) {
			t.Error(p)
		}
		wf := parseWorkflow(t, src)
		for id, job := range wf.Jobs {
			for i, s := range job.Steps {
				if runsCLI(s) != "" {
					n++
				}
				if strings.Contains(s.Run, "plugin install") {
					t.Errorf("%s job %s %s installs a plugin itself: use scripts/plugins.sh install (pinned versions, checksums)", f, id, s.label(i))
				}
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d steps run the Pulumi CLI: the check checked little", n)
	}
	step := "      - run: go run ./cmd/teststack destroy --name pr-1\n"
	if got := acquisitionProblems(t, "fixture", fixtureWorkflow(step)); len(got) != 1 {
		t.Errorf("a teststack destroy without the variable: %v, want one problem", got)
	}
	with := "env:\n  PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: \"true\"\n"
	if got := acquisitionProblems(t, "fixture", []byte(strings.Replace(string(fixtureWorkflow(step)), "jobs:\n", with+"jobs:\n", 1))); len(got) != 0 {
		t.Errorf("with the variable at the top: %v", got)
	}
}

// TestPluginsScript: scripts/plugins.sh installs exactly the gcp and
// kubernetes providers go.mod's SDKs ask for and the OPA analyzer, each
// with --checksum, and installs nothing when a checksum is missing.
func TestPluginsScript(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	fake := "#!/usr/bin/env bash\nprintf '%s|%s\\n' \"$PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION\" \"$*\" >> " + calls + "\n"
	if err := os.WriteFile(filepath.Join(dir, "pulumi"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	pins, err := teststack.PinsFromGoMod(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) (string, error) {
		_ = os.Remove(calls)
		cmd := exec.Command("bash", filepath.Join("..", "scripts", "plugins.sh"), "install")
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		b, _ := os.ReadFile(calls)
		if err != nil {
			return string(b), fmt.Errorf("%v: %s", err, out)
		}
		return string(b), nil
	}
	sum := func(c byte) string { return strings.Repeat(string(c), 64) }
	all := []string{
		"ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256=" + sum('a'),
		"ASYNCJOBS_KUBERNETES_PLUGIN_ARCHIVE_SHA256=" + sum('b'),
		"ASYNCJOBS_POLICY_OPA_ARCHIVE_SHA256=" + sum('c'),
	}
	got, err := run(all...)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("true|plugin install resource gcp v%s --checksum %s\n"+
		"true|plugin install resource kubernetes v%s --checksum %s\n"+
		"true|plugin install analyzer policy-opa v1.1.0 --checksum %s\n",
		pins["gcp"], sum('a'), pins["kubernetes"], sum('b'), sum('c'))
	if got != want {
		t.Errorf("plugins.sh install ran\n%s\nwant\n%s", got, want)
	}
	got, err = run(all[0], all[2])
	if err == nil || !strings.Contains(err.Error(), "ASYNCJOBS_KUBERNETES_PLUGIN_ARCHIVE_SHA256") || got != "" {
		t.Errorf("without the kubernetes checksum: err %v, calls %q; want a refusal naming the variable and no install", err, got)
	}
}

// cacheProblems: a job that authenticates (id-token: write) or runs in a
// GitHub environment keeps no Go cache and restores no cache at all. A
// cache saved on main is restored by every later job of main; such jobs
// run pull-request-influenced code or data (the dev deploy and the sweep
// read state pull requests write), and production must load nothing they
// could have left.
func cacheProblems(t *testing.T, name string, src []byte) []string {
	t.Helper()
	wf := parseActionlint(t, name, src)
	var problems []string
	for _, id := range sortedKeys(wf.Jobs) {
		job := wf.Jobs[id]
		if !hasScopeOK(job, "id-token", "write") && job.Environment == nil {
			continue
		}
		for i, s := range job.Steps {
			a, ok := s.Exec.(*actionlint.ExecAction)
			if !ok {
				continue
			}
			switch uses := a.Uses.Value; {
			case strings.HasPrefix(uses, "actions/setup-go@"):
				if in, ok := a.Inputs["cache"]; !ok || in.Value == nil || in.Value.Value != "false" {
					problems = append(problems, fmt.Sprintf("%s job %s step %d: setup-go without cache: false in a job that authenticates or deploys", name, id, i+1))
				}
			case strings.HasPrefix(uses, "actions/cache"):
				problems = append(problems, fmt.Sprintf("%s job %s step %d: %s in a job that authenticates or deploys", name, id, i+1, uses))
			}
		}
	}
	return problems
}

func hasScopeOK(job *actionlint.Job, name, value string) bool {
	return job.Permissions != nil && hasScope(job, name, value)
}

// TestNoSharedCacheWhereTokensAre: see cacheProblems.
func TestNoSharedCacheWhereTokensAre(t *testing.T) {
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range cacheProblems(t, f, src) {
			t.Error(p)
		}
	}
	job := func(extra, steps string) []byte {
		return []byte("on: push\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-24.04\n" + extra + "    permissions:\n      id-token: write\n    steps:\n" + steps)
	}
	setupGo := "      - uses: actions/setup-go@44694675825211faa026b3c33043df3e48a5fa00 # v6.0.0\n        with:\n          go-version-file: go.mod\n"
	for _, tc := range []struct {
		name string
		src  []byte
		want int
	}{
		{"cache: false", job("", setupGo+"          cache: false\n"), 0},
		{"setup-go's default cache", job("", setupGo), 1},
		{"actions/cache", job("", "      - uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830 # v4.3.0\n"+
			"        with:\n          path: x\n          key: k\n"), 1},
		{"in an environment", []byte("on: push\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-24.04\n" +
			"    environment: production\n    permissions: {}\n    steps:\n" + setupGo), 1},
	} {
		if got := cacheProblems(t, tc.name, tc.src); len(got) != tc.want {
			t.Errorf("%s: %d problems, want %d: %v", tc.name, len(got), tc.want, got)
		}
	}
}

// stateCheckProblems: before a step updates, refreshes or destroys a stack
// with the Pulumi action, the same job refuses the stack's state when its
// providers are not the pinned ones (go run ./cmd/teststack providers
// --stack <stack>). teststack up, destroy and sweep check by themselves.
func stateCheckProblems(t *testing.T, name string, src []byte) []string {
	t.Helper()
	wf := parseWorkflow(t, src)
	var problems []string
	for _, id := range sortedKeys(wf.Jobs) {
		job := wf.Jobs[id]
		checked := map[string]bool{}
		for i, s := range job.Steps {
			for _, m := range regexp.MustCompile(`go run \./cmd/teststack providers --stack (\S+)`).FindAllStringSubmatch(s.Run, -1) {
				for _, stack := range stackNames(job, strings.Trim(m[1], `"'`)) {
					checked[stack] = true
				}
			}
			if !strings.HasPrefix(s.Uses, "pulumi/actions@") || !slices.Contains([]string{"up", "update", "refresh", "destroy"}, s.With["command"]) {
				continue
			}
			for _, stack := range stackNames(job, s.With["stack-name"]) {
				if !checked[stack] {
					problems = append(problems, fmt.Sprintf(
						"%s job %s %s: pulumi %s of %s without checking its state's providers first (go run ./cmd/teststack providers --stack %s)",
						name, id, s.label(i), s.With["command"], stack, stack))
				}
			}
		}
	}
	return problems
}

// TestStateCheckedBeforeUp: see stateCheckProblems.
func TestStateCheckedBeforeUp(t *testing.T) {
	ups := 0
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range stateCheckProblems(t, f, src) {
			t.Error(p)
		}
		ups += strings.Count(string(src), "command: up")
	}
	if ups < 2 {
		t.Fatalf("only %d pulumi up steps found", ups)
	}
	check := "      - run: go run ./cmd/teststack providers --stack dev\n"
	up := "      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0\n        with:\n          command: up\n          stack-name: dev\n"
	for _, tc := range []struct {
		name, steps string
		want        int
	}{
		{"checked first", check + up, 0},
		{"not checked", up, 1},
		{"checked after", up + check, 1},
		{"another stack checked", strings.Replace(check, "dev", "prod", 1) + up, 1},
	} {
		if got := stateCheckProblems(t, tc.name, fixtureWorkflow(tc.steps)); len(got) != tc.want {
			t.Errorf("%s: %d problems, want %d: %v", tc.name, len(got), tc.want, got)
		}
	}
}

// needsOf lists the jobs a job needs.
func needsOf(job *wfJob) []string {
	switch n := job.Needs.(type) {
	case string:
		return []string{n}
	case []any:
		var out []string
		for _, x := range n {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

var settingsCheckRE = regexp.MustCompile(`go run \./bootstrap/githubsettings\b[^\n]*--environment (\S+)`)

// settingsProblems: every job that names a GitHub environment other than
// dev waits, through needs, for a job that checks that environment's
// GitHub settings (bootstrap/githubsettings): a job naming a missing
// environment would create it without protection and run at once.
func settingsProblems(t *testing.T, name string, src []byte) []string {
	t.Helper()
	wf := parseWorkflow(t, src)
	checks := func(id string) string {
		for _, s := range wf.Jobs[id].Steps {
			if m := settingsCheckRE.FindStringSubmatch(s.Run); m != nil {
				return strings.Trim(m[1], `"'`)
			}
		}
		return ""
	}
	var problems []string
	for _, id := range sortedKeys(wf.Jobs) {
		env := environmentName(wf.Jobs[id])
		if env == "" || env == "dev" {
			continue
		}
		seen, queue, found := map[string]bool{}, needsOf(wf.Jobs[id]), false
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if seen[n] || wf.Jobs[n] == nil {
				continue
			}
			seen[n] = true
			found = found || checks(n) == env
			queue = append(queue, needsOf(wf.Jobs[n])...)
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s job %s runs in environment %s without first checking its GitHub settings "+
				"(a job needing one that runs go run ./bootstrap/githubsettings --environment %s)", name, id, env, env))
		}
	}
	return problems
}

// TestProductionWaitsForTheGitHubSettings: see settingsProblems.
func TestProductionWaitsForTheGitHubSettings(t *testing.T) {
	prod := 0
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range settingsProblems(t, f, src) {
			t.Error(p)
		}
		prod += strings.Count(string(src), "environment: production")
	}
	if prod == 0 {
		t.Fatal("no job runs in the production environment")
	}
	check := "  c:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: go run ./bootstrap/githubsettings --repo \"$R\" --environment production --branch main\n"
	deploy := "  d:\n    runs-on: ubuntu-24.04\n    environment: production\n    needs: [c]\n    steps:\n      - run: echo\n"
	for _, tc := range []struct {
		name, jobs string
		want       int
	}{
		{"waits", check + deploy, 0},
		{"waits through another job", check + "  m:\n    runs-on: ubuntu-24.04\n    needs: c\n    steps:\n      - run: echo\n" +
			strings.Replace(deploy, "[c]", "[m]", 1), 0},
		{"does not wait", check + strings.Replace(deploy, "    needs: [c]\n", "", 1), 1},
		{"waits for another environment's check", strings.Replace(check, "--environment production", "--environment staging", 1) + deploy, 1},
	} {
		if got := settingsProblems(t, tc.name, []byte("on: push\njobs:\n"+tc.jobs)); len(got) != tc.want {
			t.Errorf("%s: %d problems, want %d: %v", tc.name, len(got), tc.want, got)
		}
	}
}

// TestPlanDiffCommentShowsForkTextAsCode runs plan-diff-comment.yml's
// script, with a fake gh, on an artifact a hostile fork wrote: the comment
// the bot posts shows the fork's text inside code blocks only (no heading,
// link, image, HTML or mention of the fork's renders), links the run's
// summary, and the text is all there.
func TestPlanDiffCommentShowsForkTextAsCode(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(workflowDir, "plan-diff-comment.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, s := range parseWorkflow(t, src).Jobs["comment"].Steps {
		if s.Name == "post or update the comment" {
			script = s.Run
		}
	}
	if script == "" {
		t.Fatal("plan-diff-comment.yml has no step 'post or update the comment'")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	work := filepath.Join(dir, "work")
	for _, d := range []string{bin, filepath.Join(work, "plan-diff")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	posted := filepath.Join(dir, "posted.md")
	fakeGH := `#!/usr/bin/env bash
case "$*" in
  *"/pulls/"*) echo "` + strings.Repeat("a", 40) + `" ;;
  *"--paginate"*) ;;
  *"-X POST"*) for a in "$@"; do case "$a" in body=@*) cp "${a#body=@}" "` + posted + `" ;; esac; done ;;
  *) echo "unexpected gh $*" >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "gh"), []byte(fakeGH), 0o755); err != nil {
		t.Fatal(err)
	}
	hostile := "## Nothing changes\n\n```\nclosed?\n```\n\n````` still inside\n\n" +
		"[approve here](https://evil.example/) ![img](https://evil.example/x.png) <img src=x onerror=alert(1)> @maintainer\n" +
		"<!-- asyncjobs-plan-diff -->\n<details><summary>x</summary></details>\n"
	for name, content := range map[string]string{"pr-number": "42\n", "dev.md": hostile, "prod.md": "| a | b |\n|---|---|\n| <b>x</b> | y |\n"} {
		if err := os.WriteFile(filepath.Join(work, "plan-diff", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GH_TOKEN=x", "REPO=my-org/asyncjobs", "RUN_HEAD_SHA="+strings.Repeat("a", 40), "RUN_URL=https://github.com/my-org/asyncjobs/actions/runs/1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the comment script failed: %v\n%s", err, out)
	}
	body, err := os.ReadFile(posted)
	if err != nil {
		t.Fatalf("nothing was posted: %v", err)
	}
	doc := goldmark.New().Parser().Parse(text.NewReader(body))
	var code, outside strings.Builder
	var rendered []string
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.FencedCodeBlock:
			for i := 0; i < n.Lines().Len(); i++ {
				seg := n.Lines().At(i)
				code.Write(seg.Value(body))
			}
			return ast.WalkSkipChildren, nil
		case *ast.Link, *ast.Image, *ast.RawHTML, *ast.AutoLink:
			rendered = append(rendered, fmt.Sprintf("%T %q", n, nodeText(n, body)))
		case *ast.HTMLBlock:
			var b bytes.Buffer
			for i := 0; i < n.Lines().Len(); i++ {
				seg := n.Lines().At(i)
				b.Write(seg.Value(body))
			}
			if strings.TrimSpace(b.String()) != "<!-- asyncjobs-plan-diff -->" || n.PreviousSibling() != nil {
				rendered = append(rendered, fmt.Sprintf("HTML block %q", b.String()))
			}
		case *ast.Text:
			outside.Write(n.Segment.Value(body))
		case *ast.Heading:
			if h := nodeText(n, body); h != "Offline plan diff" && h != "dev" && h != "prod" {
				rendered = append(rendered, fmt.Sprintf("heading %q", h))
			}
		}
		return ast.WalkContinue, nil
	})
	for _, r := range rendered {
		t.Errorf("the fork's text renders outside a code block: %s", r)
	}
	if !strings.Contains(code.String(), hostile) || !strings.Contains(code.String(), "| <b>x</b> | y |") {
		t.Errorf("the code blocks do not hold the fork's text verbatim:\n%s", code.String())
	}
	if !strings.Contains(string(body), "https://github.com/my-org/asyncjobs/actions/runs/1") {
		t.Error("the comment does not link the run's summary")
	}
	for _, w := range []string{"@maintainer", "evil.example", "approve here", "Nothing changes"} {
		if strings.Contains(outside.String(), w) {
			t.Errorf("the fork's %q is outside the code blocks", w)
		}
	}
}

// nodeText is the text of an inline or block node's children.
func nodeText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := c.(*ast.Text); ok && entering {
			b.Write(t.Segment.Value(src))
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// TestPluginsScriptWithTheRealCLI: the real Pulumi CLI takes plugins.sh's
// command lines (no flag it does not know), and with a checksum and no way
// to the vendor's download it installs nothing: the install fails at the
// download, not at the command line, and the plugin directory stays empty.
func TestPluginsScriptWithTheRealCLI(t *testing.T) {
	cli := pulumicli.Path(t)
	dir, home := t.TempDir(), t.TempDir()
	if err := os.Symlink(cli, filepath.Join(dir, "pulumi")); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("a", 64)
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "plugins.sh"), "install")
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "PULUMI_HOME="+home,
		"PULUMI_SKIP_UPDATE_CHECK=true", "HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1",
		"ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256="+sum, "ASYNCJOBS_KUBERNETES_PLUGIN_ARCHIVE_SHA256="+sum, "ASYNCJOBS_POLICY_OPA_ARCHIVE_SHA256="+sum)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("plugins.sh installed without a way to the vendor:\n%s", out)
	}
	for _, bad := range []string{"unknown flag", "unknown command", "accepts", "Usage:"} {
		if strings.Contains(string(out), bad) {
			t.Fatalf("the real CLI refused plugins.sh's command line (%q):\n%s", bad, out)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(home, "plugins")); len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("plugins installed: %v", names)
	}
}
