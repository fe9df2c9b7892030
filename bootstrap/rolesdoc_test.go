package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateRolesDoc = flag.Bool("update", false, "rewrite the deployer roles in docs/delivery.md")

const (
	rolesStart = "<!-- deployer-roles -->"
	rolesEnd   = "<!-- /deployer-roles -->"
)

// rolesTable renders DeployerRoles and PreviewerRoles as docs/delivery.md shows them.
func rolesTable() string {
	var b strings.Builder
	b.WriteString("| identity | role on the environment's project | granted to | why |\n|---|---|---|---|\n")
	for _, r := range DeployerRoles {
		to := "every environment's deployer"
		if r.OnlyIf == OnlyIfCreatesCluster {
			to = "the deployer of an environment with `createsCluster`"
		}
		if r.Condition != "" {
			to += ", with the condition `" + r.Condition + "`"
		}
		b.WriteString("| deployer | `" + r.Name + "` | " + to + " | " + r.Why + " |\n")
	}
	for _, r := range PreviewerRoles {
		b.WriteString("| previewer | `" + r.Name + "` | a protected environment's previewer | " + r.Why + " |\n")
	}
	return b.String()
}

// TestDeployerRolesDoc keeps docs/delivery.md's list of the deployer's and
// the previewer's roles identical to what the bootstrap program grants.
func TestDeployerRolesDoc(t *testing.T) {
	path := filepath.Join("..", "docs", "delivery.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i, j := strings.Index(text, rolesStart), strings.Index(text, rolesEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s ... %s block", path, rolesStart, rolesEnd)
	}
	want := text[:i+len(rolesStart)] + "\n" + rolesTable() + text[j:]
	if *updateRolesDoc {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != text {
		t.Errorf("%s: the deployer roles are stale; run: go test ./bootstrap -run TestDeployerRolesDoc -update", path)
	}
}
