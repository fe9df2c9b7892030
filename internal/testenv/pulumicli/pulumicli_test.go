package pulumicli_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/pulumicli"
)

func TestVersion(t *testing.T) {
	bin := pulumicli.Path(t)
	if !filepath.IsAbs(bin) {
		t.Fatalf("Path returned %q, not an absolute path", bin)
	}
	cmd := exec.CommandContext(t.Context(), bin, "version")
	cmd.Env = pulumicli.Env(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pulumi version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != pulumicli.Version {
		t.Errorf("pulumi version printed %q, want %q", got, pulumicli.Version)
	}
	// The second call is answered from the in-process cache.
	if again := pulumicli.Path(t); again != bin {
		t.Errorf("Path changed between calls: %q then %q", bin, again)
	}
}
