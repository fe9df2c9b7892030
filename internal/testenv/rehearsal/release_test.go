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

// TestPreviousRelease: each release the upgrade rehearsals start from
// (PreviousRelease, LatestRelease) is a release of CHANGELOG.md, with its
// commit, and its tag (where the clone has tags) names that commit; the
// latest is the newest.
func TestPreviousRelease(t *testing.T) {
	root, err := rehearsal.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []rehearsal.Release{rehearsal.PreviousRelease, rehearsal.LatestRelease} {
		checkRelease(t, root, log, rel)
	}
	// The latest release is CHANGELOG.md's first release heading, and the
	// newest v0 tag where the clone has tags.
	first := regexp.MustCompile(`(?m)^## (v0\.\d+\.\d+) `).FindSubmatch(log)
	if len(first) < 2 || string(first[1]) != rehearsal.LatestRelease.Tag {
		t.Errorf("CHANGELOG.md's newest release heading is %q, LatestRelease is %s", first, rehearsal.LatestRelease.Tag)
	}
	out, err := exec.Command("git", "-C", root, "tag", "--list", "v0.*", "--sort=-v:refname").Output()
	if err != nil {
		t.Fatal(err)
	}
	if tags := strings.Fields(string(out)); len(tags) > 0 && tags[0] != rehearsal.LatestRelease.Tag {
		t.Errorf("the newest tag is %s, LatestRelease is %s: make it the latest release (CHANGELOG.md, Releasing)",
			tags[0], rehearsal.LatestRelease.Tag)
	}
}

// checkRelease: a release names a v0 tag and a full commit id; CHANGELOG.md
// has its heading with the commit; the clone has the commit, and the tag,
// where present, names it.
func checkRelease(t *testing.T, root string, log []byte, rel rehearsal.Release) {
	t.Helper()
	if !regexp.MustCompile(`^v0\.\d+\.\d+$`).MatchString(rel.Tag) || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(rel.Commit) {
		t.Fatalf("release %+v: want a v0.MINOR.PATCH tag and a full commit id", rel)
	}
	heading := regexp.MustCompile(`(?m)^## ` + regexp.QuoteMeta(rel.Tag) + ` \(([^)]*)\)$`).FindSubmatch(log)
	if heading == nil {
		t.Fatalf("CHANGELOG.md has no heading for %s", rel.Tag)
	}
	if !strings.Contains(string(heading[1]), rel.Commit[:7]) {
		t.Errorf("CHANGELOG.md's heading of %s (%s) does not name its commit %s", rel.Tag, heading[1], rel.Commit[:7])
	}
	if out, err := exec.Command("git", "-C", root, "cat-file", "-t", rel.Commit).Output(); err != nil || strings.TrimSpace(string(out)) != "commit" {
		t.Fatalf("the clone lacks %s (%s), which the upgrade rehearsal deploys: %v (a shallow clone: git fetch --unshallow)", rel.Tag, rel.Commit, err)
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", rel.Tag+"^{commit}").Output(); err == nil {
		if got := strings.TrimSpace(string(out)); got != rel.Commit {
			t.Errorf("tag %s names %s, the rehearsal says %s", rel.Tag, got, rel.Commit)
		}
	}
}
