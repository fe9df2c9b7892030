// Package toolcache gives tests the real tools that scripts/tools.sh
// provides (kube-apiserver, etcd, the Pulumi CLI and the Kubernetes
// provider built from the module proxy; the gcp provider, the Go language
// host and the mockgcp server from the shared tools folder, checksummed;
// ShellCheck), cached outside the repository. A tool that cannot
// be provided skips the test, or fails it when CI is "true". Under
// `go test -short` (`make unit`, the inner loop) no tool is provided and
// every test that needs one is skipped: `make test` never passes -short.
// Commands find a tool already provided with Installed.
package toolcache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

var (
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
)

// Path returns the absolute path of a tool provided by scripts/tools.sh
// (`scripts/tools.sh list` names them), building or installing it first if
// needed. When the tool cannot be provided the test is skipped, or failed
// when the environment variable CI is "true". Under -short it is skipped.
func Path(t testing.TB, tool string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("toolcache: -short runs no external tool (%s); make test runs this test", tool)
	}
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolPaths[tool]; ok {
		return p
	}
	p, err := runTools(tool)
	if err != nil {
		unavailable(t, "%s is not available: %v", tool, err)
	}
	toolPaths[tool] = p
	return p
}

func runTools(tool string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "tools.sh")
	if _, err := os.Stat(script); err != nil {
		return "", err
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return "", err
	}
	var stdout bytes.Buffer
	stderr := &cli.Tail{Max: 4096}
	cmd := exec.Command(bash, script, "path", tool)
	cmd.Dir = root
	cmd.Stdout = &stdout
	// Build progress is shown as it happens (go test -v) and kept for the
	// error message.
	cmd.Stderr = io.MultiWriter(os.Stderr, stderr)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/tools.sh path %s: %v\n%s", tool, err, strings.TrimSpace(stderr.String()))
	}
	p := strings.TrimSpace(stdout.String())
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("scripts/tools.sh path %s printed %q, not an absolute path", tool, p)
	}
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// Installed returns the absolute path of a tool scripts/tools.sh has already
// provided, for commands (not tests): unlike Path it never builds or
// installs anything, since a build can take many minutes. A missing tool is
// an error that names the command providing it. The path is the one
// scripts/tools.sh itself computes (its cache root and the tool's version),
// read by sourcing the script; TestInstalledIsPath keeps the two in step.
func Installed(tool string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bash, "-c", `source "$0" list >/dev/null && tool_path "$1"`, filepath.Join(root, "scripts", "tools.sh"), tool)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: scripts/tools.sh: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
	}
	p := strings.TrimSpace(stdout.String())
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s: scripts/tools.sh gave %q, not an absolute path", tool, p)
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not installed (no %s): run `scripts/tools.sh ensure %s`", tool, p, tool)
	}
	return p, nil
}

// RepoRoot walks up from the working directory to the directory with go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("toolcache: "+format+" (CI=true: a missing tool is a failure)", args...)
	}
	t.Skipf("toolcache: "+format+" (skipping; under CI=true this fails)", args...)
}
