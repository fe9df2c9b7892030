package policy_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
)

const exceptionsFile = "../../../policy/kube-score-exceptions.yaml"

func exceptions(t testing.TB) []policy.KubeScoreException {
	t.Helper()
	exc, err := policy.LoadKubeScoreExceptions(exceptionsFile)
	if err != nil {
		t.Fatal(err)
	}
	return exc
}

// fixtureStack is the stack the fixture manifests stand for: one that
// stack-scoped exceptions do not name.
const fixtureStack = "fixture"

func kubeScore(t testing.TB, dir string, exc []policy.KubeScoreException) *policy.KubeScoreReport {
	t.Helper()
	r, err := policy.KubeScore(dir, fixtureStack, exc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestKubeScoreFixtureManifests: the fixture manifests, which follow the
// hardening set, pass kube-score with the checked-in exceptions; every
// exception for all stacks is needed, and nothing else is excepted.
func TestKubeScoreFixtureManifests(t *testing.T) {
	exc := exceptions(t)
	if len(exc) == 0 {
		t.Fatal("no exceptions loaded")
	}
	r := kubeScore(t, manifestsDir, exc)
	if len(r.Files) < 6 {
		t.Fatalf("scored only %v", r.Files)
	}
	for _, v := range r.Violations {
		t.Errorf("fixture manifests: %s", v)
	}
	for _, e := range r.Unused {
		t.Errorf("exception %s matches no finding on the fixture manifests; remove it or narrow it", e.Check)
	}
	for _, v := range r.Accepted {
		if v.Message == "" || !strings.HasPrefix(v.Rule, policy.KubeScoreRulePrefix) {
			t.Errorf("accepted finding without reason or rule: %+v", v)
		}
	}

	// Without the exceptions exactly the excepted checks fail.
	bare := kubeScore(t, manifestsDir, nil)
	got := map[string]bool{}
	for _, v := range bare.Violations {
		got[strings.TrimPrefix(v.Rule, policy.KubeScoreRulePrefix)] = true
	}
	want := map[string]bool{}
	for _, e := range exc {
		if e.AppliesTo(fixtureStack) {
			want[e.Check] = true
		}
	}
	if strings.Join(keys(got), ",") != strings.Join(keys(want), ",") {
		t.Errorf("without exceptions kube-score fails %v, want exactly the excepted checks %v", keys(got), keys(want))
	}
}

func keys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

// TestKubeScoreFindsHardeningGaps: a fixture with one hardening setting
// removed fails kube-score, naming the object.
func TestKubeScoreFindsHardeningGaps(t *testing.T) {
	for _, tc := range []struct {
		name, file, remove, check, typ, object string
	}{
		{"no starting deadline", "cronjob.yaml", "  startingDeadlineSeconds: 300\n", "cronjob-has-deadline", "kubernetes:batch/v1:CronJob",
			"asyncjobs-workers/report"},
		{"writable root filesystem", "deployment.yaml", "            readOnlyRootFilesystem: true\n", "container-security-context-readonlyrootfilesystem",
			"kubernetes:apps/v1:Deployment", "asyncjobs-workers/subscriber"},
		{"no limits", "cronjob.yaml", "                limits:\n                  cpu: 500m\n                  memory: 128Mi\n", "container-resources",
			"kubernetes:batch/v1:CronJob", "asyncjobs-workers/report"},
		{"no seccomp profile", "deployment.yaml", "        seccompProfile:\n          type: RuntimeDefault\n", "container-seccomp-profile",
			"kubernetes:apps/v1:Deployment", "asyncjobs-workers/subscriber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files, _ := filepath.Glob(filepath.Join(manifestsDir, "*.yaml"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Base(f) == tc.file {
					if !strings.Contains(string(b), tc.remove) {
						t.Fatalf("%s does not contain %q", tc.file, tc.remove)
					}
					b = []byte(strings.Replace(string(b), tc.remove, "", 1))
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := kubeScore(t, dir, exceptions(t))
			found := false
			for _, v := range r.Violations {
				if v.Rule == policy.KubeScoreRulePrefix+tc.check && v.Type == tc.typ && v.Name == tc.object {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s finding on %s %s; got %v", tc.check, tc.typ, tc.object, r.Violations)
			}
		})
	}
}

// TestKubeScoreWithoutManifests: no directory, or one without manifests,
// is skipped, not an error.
func TestKubeScoreWithoutManifests(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "README"), []byte("nothing rendered yet"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), empty} {
		r := kubeScore(t, dir, exceptions(t))
		if len(r.Files) != 0 || len(r.Violations) != 0 {
			t.Errorf("%s: scored %v, violations %v", dir, r.Files, r.Violations)
		}
	}
}

// TestKubeScoreExceptionsFile: every exception has a known check and a
// reason; the file takes no unknown fields.
func TestKubeScoreExceptionsFile(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"no reason", "exceptions:\n  - check: pod-networkpolicy\n", "no reason"},
		{"unknown check", "exceptions:\n  - check: pod-network-policy\n    reason: typo\n", "unknown kube-score check"},
		{"unknown field", "exceptions:\n  - check: pod-networkpolicy\n    reason: r\n    expires: never\n", "expires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "exceptions.yaml")
			if err := os.WriteFile(f, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := policy.LoadKubeScoreExceptions(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadKubeScoreExceptions = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// An exception narrowed to another object does not accept the finding.
	narrowed := []policy.KubeScoreException{{Check: "pod-networkpolicy", Kind: "Deployment", Name: "other", Reason: "r"}}
	r := kubeScore(t, manifestsDir, narrowed)
	found := false
	for _, v := range r.Violations {
		if v.Rule == policy.KubeScoreRulePrefix+"pod-networkpolicy" && v.Name == "asyncjobs-workers/subscriber" {
			found = true
		}
	}
	if !found || len(r.Unused) != 1 {
		t.Errorf("a narrowed exception accepted another object's finding: violations %v, unused %v", r.Violations, r.Unused)
	}
}
