package toolcache

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSharedTools: scripts/tools.sh installs a tool of the shared tools
// folder only when the folder's SHA256SUMS and the checksum pinned in the
// script both agree with the binary, and says which check failed; without
// the folder, a tool with no other source is a clear error. Nothing is
// left in the cache by a refused install.
func TestSharedTools(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "xz", "sha256sum", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s is not on PATH", tool)
		}
	}
	const pinned = "894e440daafb14f0e5727d3a3232a7caba79f35245085c6ddc96dbc995dd0f37" // mockgcp-server in scripts/tools.sh
	// folder writes a shared tools folder holding mockgcp-server.xz (of
	// content) and a SHA256SUMS line with sum.
	folder := func(t *testing.T, content, sum string) string {
		dir := t.TempDir()
		bin := filepath.Join(dir, "mockgcp-server")
		if err := os.WriteFile(bin, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("xz", "-f", bin).CombinedOutput(); err != nil {
			t.Fatalf("xz: %v\n%s", err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sum+"  mockgcp-server\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name   string
		shared func(t *testing.T) string
		want   string
	}{
		{"SHA256SUMS disagrees with the pin", func(t *testing.T) string {
			return folder(t, "fake", strings.Repeat("0", 64))
		}, "SHA256SUMS lists " + strings.Repeat("0", 64) + " for mockgcp-server, but scripts/tools.sh pins " + pinned},
		{"binary disagrees with both", func(t *testing.T) string {
			return folder(t, "tampered", pinned)
		}, "has sha256 "},
		{"no shared folder", func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "missing")
		}, "it is built from Config Connector's sources and has no other source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			cmd := exec.Command("bash", filepath.Join(root, "scripts", "tools.sh"), "path", "mockgcp-server")
			cmd.Env = append(os.Environ(), "ASYNCJOBS_TOOLS_CACHE="+cache, "ASYNCJOBS_SHARED_TOOLS="+tc.shared(t))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("installed anyway:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			entries, err := os.ReadDir(cache)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "mockgcp-server") {
					t.Errorf("a refused install left %s in the cache", e.Name())
				}
			}
		})
	}
}
