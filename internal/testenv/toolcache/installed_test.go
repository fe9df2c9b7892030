package toolcache

import (
	"strings"
	"testing"
)

// TestInstalledIsPath: Installed finds a provided tool where Path does, and
// names the command that provides a tool that is missing.
func TestInstalledIsPath(t *testing.T) {
	for _, tool := range []string{"pulumi-resource-gcp", "pulumi-resource-kubernetes"} {
		want := Path(t, tool)
		got, err := Installed(tool)
		if err != nil || got != want {
			t.Errorf("Installed(%s) = %q, %v; want %q", tool, got, err, want)
		}
	}
	t.Setenv("ASYNCJOBS_TOOLS_CACHE", t.TempDir())
	_, err := Installed("pulumi-resource-gcp")
	if err == nil || !strings.Contains(err.Error(), "scripts/tools.sh ensure pulumi-resource-gcp") {
		t.Errorf("Installed with an empty cache: %v, want the command that installs the tool", err)
	}
	if _, err := Installed("no-such-tool"); err == nil {
		t.Error("Installed(no-such-tool) succeeded")
	}
}
