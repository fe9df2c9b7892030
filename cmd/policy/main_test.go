package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

const fixtureManifests = "../../policy/testdata/manifests"

// planFile records a stack file as make plan does, lets change edit the
// plan, and writes it where the command reads it.
func planFile(t *testing.T, stack string, change func(p *recorder.Plan)) string {
	t.Helper()
	plan, err := record(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(plan)
	}
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "build", stack)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// unnotified counts a stack's alert policies. The dev stack sets no
// notification channel, so each of them is a warning of
// monitoring-alert-notification-channels.
func unnotified(t *testing.T, stack string) int {
	t.Helper()
	plan, err := record(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(plan.ByType("gcp:monitoring/alertPolicy:AlertPolicy"))
	if n < 2 {
		t.Fatalf("%d alert policies in stack %s", n, stack)
	}
	return n
}

// unprotected counts the resources of a stack that a production stack
// would have to protect: all but components and providers.
func unprotected(t *testing.T, stack string) int {
	t.Helper()
	plan, err := record(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range plan.Resources {
		if r.Custom && !r.Protect && !strings.HasPrefix(r.Type, "pulumi:providers:") {
			n++
		}
	}
	if n < 40 {
		t.Fatalf("only %d unprotected resources in stack %s", n, stack)
	}
	return n
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), "policy", run, args, nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCleanPlanPasses(t *testing.T) {
	code, out, errOut := runCmd(t, "--plan", planFile(t, "dev", nil))
	if code != exitOK {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	alerts := unnotified(t, "dev")
	for _, want := range []string{"policy: stack dev", "production: no", "kube-score: no manifests", fmt.Sprintf("PASS: 0 errors, %d warnings", alerts)} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "[monitoring-alert-notification-channels]"); n != alerts {
		t.Errorf("%d alerts without channels reported, want %d:\n%s", n, alerts, out)
	}
}

func TestErrorsFailAndComeFirst(t *testing.T) {
	code, out, _ := runCmd(t, "--plan", planFile(t, "dev", nil), "--production")
	if code != exitViolations {
		t.Fatalf("exit %d, want %d\n%s", code, exitViolations, out)
	}
	errorsAt, warningsAt := strings.Index(out, "errors ("), strings.Index(out, "warnings (")
	if errorsAt < 0 || warningsAt < 0 || errorsAt > warningsAt {
		t.Errorf("want errors, then warnings:\n%s", out)
	}
	for _, want := range []string{
		"production: yes (the caller marked it as production)",
		"[protect-everything-in-production] gcp:cloudrunv2/service:Service worker",
		"Fix: set asyncjobs:protect: true",
		"[cloudrun-internal-ingress-in-production] gcp:cloudrunv2/service:Service worker",
		fmt.Sprintf("FAIL: %d errors, %d warnings", unprotected(t, "dev")+unnotified(t, "dev"), 2+unnotified(t, "dev")),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestWarningsDoNotFail(t *testing.T) {
	f := planFile(t, "prod", func(p *recorder.Plan) {
		w := p.Find("gcp:cloudrunv2/service:Service", "worker")
		if w == nil {
			t.Fatal("no worker in the prod plan")
		}
		w.Inputs["ingress"] = "INGRESS_TRAFFIC_ALL"
	})
	code, out, _ := runCmd(t, "--plan", f)
	if code != exitOK {
		t.Fatalf("exit %d, want 0 for warnings only\n%s", code, out)
	}
	if !strings.Contains(out, "warnings (1)") || !strings.Contains(out, "PASS: 0 errors, 1 warning") {
		t.Errorf("want one warning:\n%s", out)
	}
}

func TestStackFiles(t *testing.T) {
	code, out, errOut := runCmd(t, "--stack-file", "../../Pulumi.dev.yaml", "--stack-file", "../../Pulumi.prod.yaml")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"policy: stack dev from ../../Pulumi.dev.yaml", "policy: stack prod from ../../Pulumi.prod.yaml", `stack "prod" is a production stack`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "PASS: 0 errors"); n != 2 {
		t.Errorf("%d stacks pass, want 2:\n%s", n, out)
	}
}

func TestManifests(t *testing.T) {
	code, out, errOut := runCmd(t, "--plan", planFile(t, "dev", nil), "--manifests", fixtureManifests)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "kube-score: 6 manifest files in "+fixtureManifests) {
		t.Errorf("manifests not scored:\n%s", out)
	}

	bad := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(fixtureManifests, "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte("  startingDeadlineSeconds: 300\n"), nil, 1)
		if err := os.WriteFile(filepath.Join(bad, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = runCmd(t, "--plan", planFile(t, "dev", nil), "--manifests", bad)
	if code != exitViolations || !strings.Contains(out, "[kube-score/cronjob-has-deadline] kubernetes:batch/v1:CronJob asyncjobs-workers/report") {
		t.Errorf("exit %d, want %d with the CronJob deadline finding:\n%s", code, exitViolations, out)
	}
}

func TestJSON(t *testing.T) {
	code, out, _ := runCmd(t, "--plan", planFile(t, "dev", nil), "--production", "--json")
	if code != exitViolations {
		t.Fatalf("exit %d", code)
	}
	var reports []report
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(reports) != 1 || len(reports[0].Violations) != unprotected(t, "dev")+2+2*unnotified(t, "dev") || reports[0].Violations[0].Severity != policy.Error {
		t.Errorf("unexpected report: %+v", reports)
	}
}

func TestCannotCheck(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--plan", filepath.Join(t.TempDir(), "plan.json")}, "run make plan"},
		{[]string{"--stack-file", "../../Pulumi.yaml"}, "want a stack file"},
		{[]string{"--rules", t.TempDir()}, "no .rego files"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
	} {
		code, _, errOut := runCmd(t, tc.args...)
		if code != exitFailure || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, exitFailure, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	code, out, errOut := runCmd(t, "-h")
	if code != exitOK || errOut != "" || !strings.HasPrefix(out, "usage: policy ") || !strings.Contains(out, "--stack-file") {
		t.Errorf("-h: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

func TestList(t *testing.T) {
	e, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "--list")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, r := range e.Rules() {
		if !strings.Contains(out, r.ID) {
			t.Errorf("--list lacks %s", r.ID)
		}
	}
	code, out, _ = runCmd(t, "--list-kube-score")
	if code != exitOK || !strings.Contains(out, "cronjob-has-deadline") || !strings.Contains(out, "container-seccomp-profile") {
		t.Errorf("--list-kube-score: exit %d\n%s", code, out)
	}
}

func TestSeveralPlans(t *testing.T) {
	bad := planFile(t, "prod", func(p *recorder.Plan) {
		p.Find("gcp:pubsub/topic:Topic", "topic-jobs").Protect = false
	})
	code, out, _ := runCmd(t, "--plan", planFile(t, "dev", nil), "--plan", bad)
	if code != exitViolations {
		t.Fatalf("exit %d, want %d when one of two plans fails\n%s", code, exitViolations, out)
	}
	if !strings.Contains(out, "PASS: 0 errors") || !strings.Contains(out, "[protect-everything-in-production] gcp:pubsub/topic:Topic topic-jobs") {
		t.Errorf("want dev to pass and prod to fail:\n%s", out)
	}
}
