package rehearsal_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

// TestPreviousRelease: the release the upgrade rehearsal starts from is a
// release of CHANGELOG.md, with its commit, and its tag (where the clone
// has tags) names that commit.
func TestPreviousRelease(t *testing.T) {
	prev := rehearsal.PreviousRelease
	if !regexp.MustCompile(`^v0\.\d+\.\d+$`).MatchString(prev.Tag) || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(prev.Commit) {
		t.Fatalf("PreviousRelease %+v: want a v0.MINOR.PATCH tag and a full commit id", prev)
	}
	root, err := rehearsal.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`(?m)^## ` + regexp.QuoteMeta(prev.Tag) + ` \(([^)]*)\)$`).FindSubmatch(log)
	if heading == nil {
		t.Fatalf("CHANGELOG.md has no heading for %s", prev.Tag)
	}
	if !strings.Contains(string(heading[1]), prev.Commit[:7]) {
		t.Errorf("CHANGELOG.md's heading of %s (%s) does not name its commit %s", prev.Tag, heading[1], prev.Commit[:7])
	}
	if out, err := exec.Command("git", "-C", root, "cat-file", "-t", prev.Commit).Output(); err != nil || strings.TrimSpace(string(out)) != "commit" {
		t.Fatalf("the clone lacks %s (%s), which the upgrade rehearsal deploys: %v (a shallow clone: git fetch --unshallow)", prev.Tag, prev.Commit, err)
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", prev.Tag+"^{commit}").Output(); err == nil {
		if got := strings.TrimSpace(string(out)); got != prev.Commit {
			t.Errorf("tag %s names %s, PreviousRelease says %s", prev.Tag, got, prev.Commit)
		}
	}
}
