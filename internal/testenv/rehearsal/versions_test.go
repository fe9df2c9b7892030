package rehearsal_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
	"github.com/asyncjobs/asyncjobs/internal/testenv/teststack"
)

// TestPluginVersionsFollowGoMod: the provider plugins the rehearsal
// installs and scripts/tools.sh provides are the releases go.mod's SDKs ask
// the engine for; go.mod is the one place they are chosen.
func TestPluginVersionsFollowGoMod(t *testing.T) {
	root, err := rehearsal.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pins, err := teststack.PinsFromGoMod(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if pins["gcp"] == "" || pins["kubernetes"] == "" {
		t.Fatalf("go.mod pins %v, want gcp and kubernetes", pins)
	}
	if rehearsal.GCPPluginVersion != pins["gcp"] || rehearsal.KubernetesPluginVersion != pins["kubernetes"] {
		t.Errorf("the rehearsal installs gcp %s and kubernetes %s, go.mod asks for %s", rehearsal.GCPPluginVersion, rehearsal.KubernetesPluginVersion, pins)
	}
	tools, err := os.ReadFile(filepath.Join(root, "scripts", "tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		`GCP_PROVIDER_VERSION="v([^"]+)"`:                                       pins["gcp"],
		`K8S_PROVIDER_VERSION="\$\{ASYNCJOBS_K8S_PROVIDER_VERSION:-v([^}]+)\}"`: pins["kubernetes"],
	} {
		m := regexp.MustCompile(name).FindSubmatch(tools)
		if m == nil {
			t.Errorf("scripts/tools.sh has no %s", name)
			continue
		}
		if string(m[1]) != want {
			t.Errorf("scripts/tools.sh pins %s, go.mod asks for %s", m[0], want)
		}
	}
}
