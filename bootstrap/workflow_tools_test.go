package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// What the workflows' commands need, and where each tool comes from. A job
// runs on a fresh runner: a command works only if an earlier step of the
// same job provided its tool, or the runner image ships it.

// runnerImageTools are the commands the workflows use that the ubuntu-24.04
// runner image ships, per its software list:
// https://github.com/actions/runner-images/blob/main/images/ubuntu/Ubuntu2404-Readme.md
// Only these are taken for granted. Not in the list, so installed by the
// jobs: gke-gcloud-auth-plugin (the image's google-cloud-cli has no such
// component and its apt source is removed), the Pulumi CLI and its OPA
// analyzer, and a pinned Go (setup-go).
var runnerImageTools = map[string]bool{
	"bash": true, "cat": true, "echo": true, "printf": true, "head": true, "tail": true, "tr": true,
	"awk": true, "sed": true, "grep": true, "mkdir": true, "rm": true, "cp": true, "mv": true,
	"tee": true, "sudo": true, "apt-get": true, "curl": true, "gpg": true, "git": true,
	"make": true, // GNU make (build-essential)
	"jq":   true, // Tools: jq
	"gh":   true, // CLI Tools: GitHub CLI
	// google-cloud-cli (apt) and kubectl are in the image; the GKE auth
	// plugin is not.
	"gcloud": true, "kubectl": true,
}

// checkedTools are the commands looked for in run: scripts.
var checkedTools = []string{
	"pulumi", "gcloud", "gke-gcloud-auth-plugin", "kubectl", "jq", "go", "make",
	"shellcheck", "actionlint", "gh", "curl", "gpg", "apt-get", "awk", "git",
}

type wfFile struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]*wfJob `yaml:"jobs"`
}

type wfJob struct {
	Env         map[string]string `yaml:"env"`
	Environment any               `yaml:"environment"`
	Needs       any               `yaml:"needs"`
	Permissions any               `yaml:"permissions"`
	Strategy    struct {
		Matrix map[string]any `yaml:"matrix"`
	} `yaml:"strategy"`
	Concurrency any       `yaml:"concurrency"`
	Steps       []*wfStep `yaml:"steps"`
}

type wfStep struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

func (s *wfStep) label(i int) string {
	switch {
	case s.Name != "":
		return fmt.Sprintf("step %d (%s)", i+1, s.Name)
	case s.Uses != "":
		return fmt.Sprintf("step %d (%s)", i+1, strings.SplitN(s.Uses, "@", 2)[0])
	}
	return fmt.Sprintf("step %d (run: %s)", i+1, firstLineOf(s.Run))
}

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func parseWorkflow(t *testing.T, src []byte) *wfFile {
	t.Helper()
	var wf wfFile
	if err := yaml.Unmarshal(src, &wf); err != nil {
		t.Fatal(err)
	}
	return &wf
}

// commandRE finds a tool used as a command: at the start of a line or after
// a pipe, a list operator, a subshell or command substitution, or a
// keyword; not inside words, paths or backquoted prose.
func commandRE(tool string) *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[|;&({]\s*|\$\(\s*|\b(?:then|do|else|if|sudo|exec|time|!)\s+)` + regexp.QuoteMeta(tool) + `(?:\s|$|;|\))`)
}

// scriptCommands lists the checked tools a run: script calls.
func scriptCommands(script string) []string {
	var lines []string
	for _, l := range strings.Split(script, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	body := strings.Join(lines, "\n")
	var out []string
	for _, tool := range checkedTools {
		if commandRE(tool).MatchString(body) {
			out = append(out, tool)
		}
	}
	return out
}

var (
	teststackRE  = regexp.MustCompile(`go run \./cmd/teststack (up|destroy|sweep|providers)\b([^\n]*)`)
	pluginsRE    = regexp.MustCompile(`(?m)^\s*scripts/plugins\.sh install\s*$`)
	makeGoRE     = regexp.MustCompile(`(?:^|\s)make(?:\s+--?[a-z-]+)*\s+(test|plan-diff|plan|policy|policies)\b`)
	aptInstallRE = regexp.MustCompile(`apt-get install[^\n]*google-cloud-cli-gke-gcloud-auth-plugin=`)
	opaInstallRE = regexp.MustCompile(`pulumi plugin install analyzer policy-opa "?\$?[A-Za-z0-9_.{}]*"?`)
)

// provides is what a step puts on the runner for the steps after it.
func provides(s *wfStep) []string {
	var out []string
	action := strings.SplitN(s.Uses, "@", 2)[0]
	switch action {
	case "actions/setup-go":
		out = append(out, "go")
	case "pulumi/actions":
		out = append(out, "pulumi")
	}
	if aptInstallRE.MatchString(s.Run) {
		out = append(out, "gke-gcloud-auth-plugin")
	}
	if opaInstallRE.MatchString(s.Run) {
		out = append(out, "policy-opa")
	}
	if pluginsRE.MatchString(s.Run) {
		out = append(out, "policy-opa", "provider-plugins")
	}
	return out
}

// stackFilesDir holds Pulumi.<stack>.yaml of the program the workflows deploy.
const stackFilesDir = ".."

// hasKubernetes reports whether a stack has Kubernetes workloads (its
// kubeconfig then runs gke-gcloud-auth-plugin).
func hasKubernetes(t *testing.T, stack string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stackFilesDir, "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatalf("stack %s: %v", stack, err)
	}
	return regexp.MustCompile(`(?m)^\s*asyncjobs:gke:`).Match(b)
}

// stackNames resolves a stack-name input: a literal or ${{ matrix.<key> }}.
func stackNames(job *wfJob, v string) []string {
	m := regexp.MustCompile(`^\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}$`).FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return []string{v}
	}
	var out []string
	if list, ok := job.Strategy.Matrix[m[1]].([]any); ok {
		for _, x := range list {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// stepNeeds lists the tools a step needs and why.
func stepNeeds(t *testing.T, job *wfJob, s *wfStep) map[string]string {
	needs := map[string]string{}
	if s.Run != "" {
		for _, tool := range scriptCommands(s.Run) {
			needs[tool] = "runs " + tool
		}
		if makeGoRE.MatchString(s.Run) {
			needs["go"] = "make builds Go code"
		}
		if pluginsRE.MatchString(s.Run) {
			needs["pulumi"] = "scripts/plugins.sh runs pulumi plugin install"
		}
		for _, m := range teststackRE.FindAllStringSubmatch(s.Run, -1) {
			needs["go"] = "go run ./cmd/teststack"
			needs["pulumi"] = "teststack " + m[1] + " runs the Pulumi CLI"
			// up, destroy and a real sweep run the program of stacks made
			// from dev, whose workloads run on GKE, with its providers
			// (installed pinned: the engine fetches none).
			if m[1] != "providers" && !strings.Contains(m[2], "--dry-run") {
				needs["provider-plugins"] = "teststack " + m[1] + " runs the provider plugins (the engine downloads none)"
				if hasKubernetes(t, "dev") {
					needs["gke-gcloud-auth-plugin"] = "teststack " + m[1] + " deploys or destroys Kubernetes workloads (template dev)"
				}
			}
		}
	}
	if strings.HasPrefix(s.Uses, "pulumi/actions@") && s.With["command"] != "" {
		needs["provider-plugins"] = "pulumi " + s.With["command"] + " runs the provider plugins (the engine downloads none)"
		for _, stack := range stackNames(job, s.With["stack-name"]) {
			if hasKubernetes(t, stack) {
				needs["gke-gcloud-auth-plugin"] = "pulumi " + s.With["command"] + " of " + stack + ", which has Kubernetes workloads"
			}
		}
		if strings.TrimSpace(s.With["policyPacks"]) != "" {
			needs["policy-opa"] = "pulumi " + s.With["command"] + " with policyPacks (runtime: opa)"
		}
	}
	return needs
}

// missingTools checks one workflow and returns a line per unmet need.
func missingTools(t *testing.T, name string, src []byte) []string {
	t.Helper()
	wf := parseWorkflow(t, src)
	var problems []string
	for _, id := range sortedKeys(wf.Jobs) {
		job := wf.Jobs[id]
		have := map[string]string{}
		for i, s := range job.Steps {
			needs := stepNeeds(t, job, s)
			for _, tool := range sortedKeys(needs) {
				if runnerImageTools[tool] || have[tool] != "" {
					continue
				}
				problems = append(problems, fmt.Sprintf("%s job %s %s: %s, but no earlier step provides %s",
					name, id, s.label(i), needs[tool], tool))
			}
			for _, tool := range provides(s) {
				have[tool] = s.label(i)
			}
		}
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestWorkflowTools: every command of every job has its tool: setup-go for
// go, the Pulumi action for pulumi, a pinned apt install of
// gke-gcloud-auth-plugin before anything deploys, previews or destroys a
// stack with Kubernetes workloads, the provider plugins and the OPA
// analyzer (scripts/plugins.sh: pinned, checksummed) before any preview,
// update or destroy, and the runner image for the rest.
func TestWorkflowTools(t *testing.T) {
	checked := 0
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range missingTools(t, f, src) {
			t.Error(p)
		}
		checked++
	}
	// The installs are pinned.
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		s := string(src)
		if strings.Contains(s, "google-cloud-cli-gke-gcloud-auth-plugin") &&
			!regexp.MustCompile(`GKE_AUTH_PLUGIN_VERSION: \d+\.\d+\.\d+-\d+`).MatchString(s) {
			t.Errorf("%s installs gke-gcloud-auth-plugin without a pinned version", f)
		}
		if strings.Contains(s, "analyzer policy-opa") &&
			!regexp.MustCompile(`POLICY_OPA_VERSION: v\d+\.\d+\.\d+`).MatchString(s) {
			t.Errorf("%s installs the OPA analyzer without a pinned version", f)
		}
		for id, job := range parseWorkflow(t, src).Jobs {
			for _, st := range job.Steps {
				if strings.Contains(st.Run, "gcloud components install") {
					t.Errorf("%s job %s runs gcloud components install, which apt installs of gcloud refuse", f, id)
				}
			}
		}
	}
	if checked < 4 {
		t.Fatalf("only %d workflows checked", checked)
	}
}

// fixtureJob is a job of a fixture workflow with the given steps.
func fixtureWorkflow(steps string) []byte {
	return []byte(`on: push
permissions: {}
jobs:
  j:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
` + steps)
}

const (
	fxSetupGo = `      - uses: actions/setup-go@44694675825211faa026b3c33043df3e48a5fa00 # v6.0.0
`
	fxPulumi = `      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0
        with:
          pulumi-version: 3.216.0
`
	fxGKE = `      - name: gke plugin
        run: sudo apt-get install -y "google-cloud-cli-gke-gcloud-auth-plugin=$V"
`
	fxOPA = `      - run: pulumi plugin install analyzer policy-opa "$POLICY_OPA_VERSION"
`
	fxPlugins = `      - run: scripts/plugins.sh install
`
	fxPreview = `      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0
        with:
          command: preview
          stack-name: dev
          policyPacks: policy
`
	fxTeststack = `      - run: go run ./cmd/teststack up --name pr-1 --from dev
`
)

// TestWorkflowToolsCatchesMissingInstalls: fixtures that lack one install
// step, or have it after the command, fail the check naming the tool.
func TestWorkflowToolsCatchesMissingInstalls(t *testing.T) {
	if !hasKubernetes(t, "dev") {
		t.Fatal("dev has no Kubernetes workloads: the fixtures below assume it does")
	}
	for _, tc := range []struct {
		name  string
		steps string
		want  []string // tools reported missing
	}{
		{"complete", fxSetupGo + fxGKE + fxPulumi + fxPlugins + fxPreview + fxTeststack, nil},
		{"no gke plugin", fxSetupGo + fxPulumi + fxPlugins + fxPreview, []string{"gke-gcloud-auth-plugin"}},
		{"no plugins", fxSetupGo + fxGKE + fxPulumi + fxPreview, []string{"policy-opa", "provider-plugins"}},
		{"the analyzer alone", fxSetupGo + fxGKE + fxPulumi + fxOPA + fxPreview, []string{"provider-plugins"}},
		{"plugins after the preview", fxGKE + fxPulumi + fxPreview + fxPlugins, []string{"policy-opa", "provider-plugins"}},
		{"plugins before the CLI", fxGKE + fxPlugins + fxPulumi + fxPreview, []string{"pulumi"}},
		{"teststack without go, pulumi or plugins", fxTeststack, []string{"go", "pulumi", "gke-gcloud-auth-plugin", "provider-plugins"}},
		{"dry-run sweep needs no plugin", fxSetupGo + fxPulumi + "      - run: go run ./cmd/teststack sweep --prefix pr- --dry-run | jq -R .\n", nil},
		{"the state check needs the CLI only", fxSetupGo + fxPulumi + "      - run: go run ./cmd/teststack providers --stack dev\n", nil},
		{"the state check without the CLI", fxSetupGo + "      - run: go run ./cmd/teststack providers --stack dev\n", []string{"pulumi"}},
		{"make test without go", "      - run: make test\n", []string{"go"}},
		{"shellcheck is not in the image", "      - run: shellcheck scripts/*.sh\n", []string{"shellcheck"}},
		{"a tool named in prose is not a command", "      - run: echo \"run \\`pulumi preview\\` yourself\"\n", nil},
		{"matrix stacks", `      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0
        with:
          command: up
          stack-name: ${{ matrix.stack }}
`, []string{"gke-gcloud-auth-plugin", "provider-plugins"}},
	} {
		src := fixtureWorkflow(tc.steps)
		if tc.name == "matrix stacks" {
			src = []byte(strings.Replace(string(src), "    runs-on:", "    strategy:\n      matrix:\n        stack: [dev, prod]\n    runs-on:", 1))
		}
		problems := missingTools(t, tc.name, src)
		var got []string
		for _, p := range problems {
			i := strings.LastIndex(p, " provides ")
			got = append(got, p[i+len(" provides "):])
		}
		sort.Strings(got)
		want := append([]string(nil), tc.want...)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: missing %v, want %v\n%s", tc.name, got, want, strings.Join(problems, "\n"))
		}
	}
}

// secretsProblems checks that no step that runs the Pulumi CLI on a stack
// can stop at a passphrase prompt: each stack file it uses names a secrets
// provider, or the step's environment falls back to the provider recorded
// in the stack's state; a step that may create the stack passes the
// environment's KMS key; no passphrase is ever set.
func secretsProblems(t *testing.T, name string, src []byte) []string {
	t.Helper()
	wf := parseWorkflow(t, src)
	var problems []string
	for _, id := range sortedKeys(wf.Jobs) {
		job := wf.Jobs[id]
		for i, s := range job.Steps {
			env := map[string]string{}
			for _, m := range []map[string]string{wf.Env, job.Env, s.Env} {
				for k, v := range m {
					env[k] = v
				}
			}
			where := fmt.Sprintf("%s job %s %s", name, id, s.label(i))
			if _, ok := env["PULUMI_CONFIG_PASSPHRASE"]; ok {
				problems = append(problems, where+": sets PULUMI_CONFIG_PASSPHRASE")
			}
			var stacks []string
			creates, provider := false, ""
			switch {
			case strings.HasPrefix(s.Uses, "pulumi/actions@") && s.With["command"] != "":
				stacks = stackNames(job, s.With["stack-name"])
				creates = s.With["upsert"] == "true"
				provider = s.With["secrets-provider"]
			case teststackRE.MatchString(s.Run) && teststackRE.FindStringSubmatch(s.Run)[1] != "providers":
				// Test stacks are made from dev's file; up creates them
				// (providers only exports a state: no secret is read).
				stacks = []string{"dev"}
				for _, m := range teststackRE.FindAllStringSubmatch(s.Run, -1) {
					creates = creates || m[1] == "up"
				}
				provider = env["PULUMI_SECRETS_PROVIDER"]
			default:
				continue
			}
			fallback := env["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"
			for _, stack := range stacks {
				b, err := os.ReadFile(filepath.Join(stackFilesDir, "Pulumi."+stack+".yaml"))
				if err != nil {
					t.Fatal(err)
				}
				inFile := regexp.MustCompile(`(?m)^secretsprovider:\s*\S`).Match(b)
				if !inFile && !fallback {
					problems = append(problems, fmt.Sprintf("%s: Pulumi.%s.yaml names no secrets provider "+
						"and PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER is not true: the CLI would ask for a passphrase", where, stack))
				}
				want := "vars.PULUMI_SECRETS_PROVIDER_" + strings.ToUpper(stack)
				if creates && !inFile && !strings.Contains(provider, want) {
					problems = append(problems, fmt.Sprintf("%s: may create stack %s without its KMS key (secrets provider %q, want ${{ %s }})", where, stack, provider, want))
				}
			}
		}
	}
	return problems
}

// TestWorkflowSecretsProvider: the committed stack files carry no secrets
// provider (their KMS keys are per installation), so every step that runs
// Pulumi on a stack takes it from the stack's state, and a step that may
// create a stack creates it with the environment's key from the bootstrap.
func TestWorkflowSecretsProvider(t *testing.T) {
	for _, w := range readWorkflows(t) {
		f, src := w.name, w.src
		for _, p := range secretsProblems(t, f, src) {
			t.Error(p)
		}
	}
	// Negative cases.
	up := `      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0
        with:
          command: up
          stack-name: prod
          upsert: true
          secrets-provider: ${{ vars.PULUMI_SECRETS_PROVIDER_PROD }}
        env:
          PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true"
`
	for _, tc := range []struct {
		name, steps string
		want        int
	}{
		{"complete", up, 0},
		{"no fallback", strings.Replace(up, `PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true"`, `X: "1"`, 1), 1},
		{"created with dev's key", strings.Replace(up, "PROVIDER_PROD", "PROVIDER_DEV", 1), 1},
		{"a passphrase", strings.Replace(up, `PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true"`, `PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true"
          PULUMI_CONFIG_PASSPHRASE: x`, 1), 1},
		{"teststack without a provider for new stacks", "      - run: go run ./cmd/teststack up --name pr-1 --from dev\n" +
			"        env:\n          PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: \"true\"\n", 1},
	} {
		if got := secretsProblems(t, tc.name, fixtureWorkflow(tc.steps)); len(got) != tc.want {
			t.Errorf("%s: %d problems, want %d: %v", tc.name, len(got), tc.want, got)
		}
	}
}

// TestSweepSharesTheTestStackGroups: the sweep destroys each stack in a job
// of that stack's concurrency group, the group of the pull request's own
// up and destroy jobs, so it never runs beside an update of the stack.
func TestSweepSharesTheTestStackGroups(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(workflowDir, "test-stacks.yml"))
	if err != nil {
		t.Fatal(err)
	}
	wf := parseWorkflow(t, src)
	group := func(id string) string {
		job, ok := wf.Jobs[id]
		if !ok {
			t.Fatalf("test-stacks.yml has no job %s", id)
		}
		c, ok := job.Concurrency.(map[string]any)
		if !ok {
			t.Fatalf("job %s: no concurrency group", id)
		}
		g, _ := c["group"].(string)
		if c["cancel-in-progress"] != false {
			t.Errorf("job %s: cancel-in-progress must be false (never cancel an update half-way)", id)
		}
		return g
	}
	pr := func(g string) string { return strings.ReplaceAll(g, "${{ github.event.pull_request.number }}", "7") }
	sweep := func(g string) string { return strings.ReplaceAll(g, "${{ matrix.stack }}", "pr-7") }
	up, destroy, sw := pr(group("up")), pr(group("destroy")), sweep(group("sweep"))
	if up == "" || up != destroy || up != sw {
		t.Errorf("groups for pr-7: up %q, destroy %q, sweep %q; want one group", up, destroy, sw)
	}
	// The sweep job destroys by name what the listing job found, and the
	// listing job changes nothing.
	var listing, destroying bool
	for _, s := range wf.Jobs["expired"].Steps {
		if m := teststackRE.FindStringSubmatch(s.Run); m != nil {
			listing = m[1] == "sweep" && strings.Contains(m[2], "--dry-run")
		}
	}
	for _, s := range wf.Jobs["sweep"].Steps {
		if m := teststackRE.FindStringSubmatch(s.Run); m != nil {
			destroying = m[1] == "sweep" && strings.Contains(m[2], `--name "$STACK"`) && !strings.Contains(m[2], "--older-than")
		}
	}
	if !listing || !destroying {
		t.Errorf("expired job lists with --dry-run: %v; sweep job sweeps --name \"$STACK\" by its TTL: %v", listing, destroying)
	}
}
