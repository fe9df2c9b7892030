// Package pulumicli provides the real Pulumi CLI to tests. The CLI is built
// from the Go module proxy by scripts/tools.sh on first use and cached outside
// the repository. When it cannot be provided the test is skipped, except under
// CI=true, where it fails.
//
// Only the standard library is used.
package pulumicli

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
)

// Version is the Pulumi CLI version scripts/tools.sh builds (its
// ASYNCJOBS_PULUMI_VERSION default).
const Version = "v3.216.0"

var (
	mu         sync.Mutex
	cachedPath string
)

// Path returns the absolute path of the Pulumi CLI, building it first if
// needed.
func Path(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if cachedPath != "" {
		return cachedPath
	}
	cachedPath = toolcache.Path(t, "pulumi")
	return cachedPath
}

// Env returns the environment for running the CLI in a test without touching
// the user's ~/.pulumi or the network: the process environment plus a
// temporary PULUMI_HOME, a file backend in a temporary directory, a config
// passphrase and no update checks. Later entries win, so callers may append
// their own.
func Env(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	backend := filepath.Join(dir, "backend")
	for _, d := range []string{home, backend} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatalf("pulumicli: %v", err)
		}
	}
	return append(os.Environ(),
		"PULUMI_HOME="+home,
		"PULUMI_BACKEND_URL=file://"+filepath.ToSlash(backend),
		"PULUMI_CONFIG_PASSPHRASE=asyncjobs-test",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
	)
}
