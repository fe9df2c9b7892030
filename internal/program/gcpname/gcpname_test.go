package gcpname

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

type check func(*field.Path, string) field.ErrorList

func TestNames(t *testing.T) {
	cases := []struct {
		name  string
		check check
		good  []string
		bad   []string
	}{
		{"service account", ValidateServiceAccountID, []string{"worker-run", "abcdef", strings.Repeat("a", 30)},
			[]string{"abcde", strings.Repeat("a", 31), "Worker-run", "1worker", "worker-", "work_er"}},
		{"cloud run", ValidateRunService, []string{"worker", "w-1", strings.Repeat("w", 49)}, []string{strings.Repeat("w", 50), "Worker", "1worker", "worker-", ""}},
		{"queue", ValidateQueue, []string{"sample-queue", "Q1", strings.Repeat("q", 100)}, []string{"", "sample_queue", strings.Repeat("q", 101), "a.b"}},
		{"pubsub", ValidatePubSub, []string{"jobs", "jobs.v1_x~y+z%", strings.Repeat("t", 255)},
			[]string{"", "ab", "1jobs", "goog-jobs", "Google", "jobs space", strings.Repeat("t", 256)}},
		{"project", ValidateProject, []string{"asyncjobs-dev", "abcdef"}, []string{"abc", "My-project", "project-", strings.Repeat("p", 31)}},
		{"region", ValidateRegion, []string{"asia-northeast1", "us-central1", "europe-west4"}, []string{"tokyo", "asia-northeast", "Asia-northeast1"}},
		{"suffix", ValidateSuffix, []string{"", "a1", "abcd1234"}, []string{"A1", "a-1", "abcd12345"}},
	}
	for _, tc := range cases {
		for _, g := range tc.good {
			if errs := tc.check(field.NewPath("n"), g); len(errs) != 0 {
				t.Errorf("%s: %q rejected: %v", tc.name, g, errs)
			}
		}
		for _, b := range tc.bad {
			if errs := tc.check(field.NewPath("n"), b); len(errs) == 0 {
				t.Errorf("%s: %q accepted", tc.name, b)
			}
		}
	}
}

func TestPhysical(t *testing.T) {
	if Physical("q", "") != "q" || Physical("q", "x1") != "q-x1" {
		t.Error("Physical does not append the suffix as -<suffix>")
	}
}

func TestLabels(t *testing.T) {
	if errs := ValidateLabels(field.NewPath("l"), map[string]string{"env": "dev", "team": ""}); len(errs) != 0 {
		t.Errorf("valid labels rejected: %v", errs)
	}
	for k, v := range map[string]string{"Env": "dev", "env": "Dev", "1env": "x", "env.x": "y"} {
		if errs := ValidateLabels(field.NewPath("l"), map[string]string{k: v}); len(errs) == 0 {
			t.Errorf("label %s=%s accepted", k, v)
		}
	}
}

// TestIDPredicates: the predicates the operator commands use accept
// exactly what the Validate functions accept, at the length limits too.
func TestIDPredicates(t *testing.T) {
	p := field.NewPath("x")
	for _, id := range []string{"", "q", "a-b-c", strings.Repeat("q", MaxQueue), strings.Repeat("q", MaxQueue+1), "a_b", "a.b"} {
		if got, want := IsQueueID(id), len(ValidateQueue(p, id)) == 0; got != want {
			t.Errorf("IsQueueID(%q) = %v, ValidateQueue accepts: %v", id, got, want)
		}
	}
	for _, id := range []string{
		"", "ab", "abc", "1abc", "goog-x", "Goog", "a-b_c.d~e+f%g", strings.Repeat("a", MaxPubSub), strings.Repeat("a", MaxPubSub+1), "a/b",
	} {
		if got, want := IsPubSubID(id), len(ValidatePubSub(p, id)) == 0; got != want {
			t.Errorf("IsPubSubID(%q) = %v, ValidatePubSub accepts: %v", id, got, want)
		}
	}
}
