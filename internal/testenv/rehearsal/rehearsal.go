// Package rehearsal runs the project the way its users do, on a machine
// with no cloud account: the real Pulumi CLI in a copy of the repository,
// where it reads Pulumi.yaml and the stack files and the Go language host
// compiles main.go, with `pulumi preview`, `up`, `refresh` and `destroy`
// on a file backend.
//
//   - Plugins come only from pinned, checksummed files (scripts/tools.sh):
//     the real pulumi-gcp provider 7.38.0 and the real pulumi-kubernetes
//     provider 4.25.0, installed into a PULUMI_HOME of the rehearsal's own,
//     and the Go language host on PATH. Every command runs with
//     PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true.
//   - The gcp provider talks to Google's APIs as Config Connector's mockgcp
//     serves them, behind internal/testenv/fakegoogle's layer of the faults the mock
//     does not model (names taken or reserved, IAM propagation for actAs,
//     the delay of new log-based metrics, deleted principals), reached
//     through HTTPS_PROXY as real Google is. Each command's access token
//     stands for the stack's deployer (the first of asyncjobs:deployers).
//   - The Kubernetes provider applies, through the kubeconfig the program
//     builds from the (fake) cluster's endpoint and CA, to a real
//     kube-apiserver (internal/testenv/kubeenv); a stand-in gke-gcloud-auth-plugin
//     on PATH answers with a token the API server accepts, and kubeenv's
//     stand-ins for the namespace and deployment controllers finish what
//     kube-controller-manager would.
//   - What the bootstrap program makes before any stack (the CronJob
//     completions metric of every cluster project, created long enough ago
//     for Cloud Monitoring), and the existing clusters stack files read, are
//     created in the fake Google first.
//
// Nothing of the program is changed: the copy is the repository's tracked
// (and untracked, not ignored) files, and tests edit only its stack files.
package rehearsal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/components/gke"
	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackplan"
	"github.com/asyncjobs/asyncjobs/internal/testenv/fakegoogle"
	"github.com/asyncjobs/asyncjobs/internal/testenv/kubeenv"
	"github.com/asyncjobs/asyncjobs/internal/testenv/pulumicli"
	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// Propagation is how long an IAM grant takes to take effect in a
// rehearsal. Google documents up to 7 minutes; 10 s keeps rehearsals quick
// and still shows the race: the real gcp provider takes about 3 s to
// create a grant (it reads the policy back), and the resource that needs
// it follows at once.
const Propagation = 10 * time.Second

// Plugin versions the program's SDKs ask the engine for (go.mod).
const (
	GCPPluginVersion        = "7.38.0"
	KubernetesPluginVersion = "4.25.0"
)

// Owner is the identity the rehearsal acts as where no deployer is
// configured (the bootstrap, which a person runs with their own
// credentials, and the setting up of the fake Google).
const Owner = "user:owner@example.com"

// BootstrapProject is the host project of the bootstrap's example stack.
const BootstrapProject = "asyncjobs-ci"

// Env is one rehearsal: a copy of the repository, a file backend, a
// kube-apiserver and a fake Google of its own.
type Env struct {
	t *testing.T
	// Dir is the copy of the repository the CLI runs in.
	Dir string
	// BackendDir is the file backend: the stacks' checkpoints as written.
	BackendDir string
	// Kube is the API server the Kubernetes provider applies to.
	Kube *kubeenv.Env
	// Google is the fake Google the gcp provider talks to.
	Google *fakegoogle.Google
	// Log holds the output of every command.
	Log *SyncBuffer

	cli  string
	bin  string
	vars []string
	// files are the copy's files that its checkout made (Checkout).
	files []string
}

var (
	setupOnce sync.Once
	setup     struct {
		home, tree string
		err        error
	}
)

// shared installs the plugins into a PULUMI_HOME and copies the repository
// once per test binary. Call Cleanup from TestMain to remove them.
func shared(t *testing.T, cli string) (home, tree string) {
	t.Helper()
	gcp := toolcache.Path(t, "pulumi-resource-gcp")
	k8s := toolcache.Path(t, "pulumi-resource-kubernetes")
	setupOnce.Do(func() {
		setup.home, setup.err = installPlugins(cli, map[string]string{"gcp": gcp, "kubernetes": k8s})
		if setup.err == nil {
			setup.tree, setup.err = copyRepository()
		}
	})
	if setup.err != nil {
		t.Fatalf("rehearsal: %v", setup.err)
	}
	return setup.home, setup.tree
}

// Cleanup removes what the rehearsals of this test binary shared.
func Cleanup() {
	for _, d := range []string{setup.home, setup.tree} {
		if d != "" {
			_ = os.RemoveAll(d)
		}
	}
}

// installPlugins installs each provider plugin file as the version the
// program asks for, the way a user installs a pinned plugin.
func installPlugins(cli string, files map[string]string) (string, error) {
	home, err := os.MkdirTemp("", "rehearsal-home-")
	if err != nil {
		return "", err
	}
	versions := map[string]string{"gcp": GCPPluginVersion, "kubernetes": KubernetesPluginVersion}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		cmd := exec.Command(cli, "plugin", "install", "resource", name, "v"+versions[name], "--file", files[name])
		cmd.Env = append(os.Environ(), "PULUMI_HOME="+home, "PULUMI_SKIP_UPDATE_CHECK=true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("pulumi plugin install %s: %v\n%s", name, err, out)
		}
	}
	return home, nil
}

// copyRepository copies the repository's files (tracked, and untracked but
// not ignored: what a commit of the work tree would hold) into a new
// directory.
func copyRepository() (string, error) {
	root, err := toolcache.RepoRoot()
	if err != nil {
		return "", err
	}
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	out, err := ls.Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files: %w", err)
	}
	dst, err := os.MkdirTemp("", "rehearsal-tree-")
	if err != nil {
		return "", err
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree
		}
		if err != nil {
			return "", err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := copyFile(src, filepath.Join(dst, rel), fi.Mode().Perm()); err != nil {
			return "", err
		}
	}
	return dst, nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, perm)
}

// copyTree copies directory src to dst and lists the files it copied.
func copyTree(src, dst string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, rel)
		return copyFile(p, filepath.Join(dst, rel), fi.Mode().Perm())
	})
	return files, err
}

// RepoRoot is the directory with the project's go.mod.
func RepoRoot() (string, error) { return toolcache.RepoRoot() }

// Options change what a rehearsal starts from.
type Options struct {
	// NotBootstrapped leaves out what the bootstrap program makes (the
	// CronJob completions metrics), for a rehearsal that runs the
	// bootstrap itself.
	NotBootstrapped bool
}

// Start sets up a rehearsal whose fake Google holds what the bootstrap
// made long ago. Everything it starts stops when the test ends.
func Start(t *testing.T) *Env {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith sets up a rehearsal with options.
func StartWith(t *testing.T, o Options) *Env {
	t.Helper()
	cli := pulumicli.Path(t)
	langGo := toolcache.Path(t, "pulumi-language-go")
	home, tree := shared(t, cli)
	kube := kubeenv.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kube.FinalizeNamespaces(ctx)
	kube.RollOutDeployments(ctx)

	base := t.TempDir()
	e := &Env{
		t: t, Dir: filepath.Join(base, "repo"), BackendDir: filepath.Join(base, "backend"),
		Kube: kube, Log: &SyncBuffer{}, cli: cli, bin: filepath.Join(base, "bin"),
	}
	for _, d := range []string{e.BackendDir, e.bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files, err := copyTree(tree, e.Dir)
	if err != nil {
		t.Fatalf("rehearsal: copying the repository: %v", err)
	}
	e.files = files
	projects, err := e.projects()
	if err != nil {
		t.Fatalf("rehearsal: %v", err)
	}
	e.Google = fakegoogle.Start(t, fakegoogle.Options{
		Projects:        projects,
		ClusterEndpoint: strings.TrimPrefix(kube.URL, "https://"),
		ClusterCAFile:   kube.CAFile,
		Propagation:     Propagation,
	})

	// The stand-in for gke-gcloud-auth-plugin: the kubeconfig the program
	// writes runs it, and it answers with the API server's admin token.
	cred, err := json.Marshal(map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1beta1",
		"kind":       "ExecCredential",
		"status":     map[string]any{"token": kube.Token},
	})
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n# stand-in for " + gke.AuthPlugin + " (rehearsal)\ncat <<'EOF'\n" + string(cred) + "\nEOF\n"
	if err := os.WriteFile(filepath.Join(e.bin, gke.AuthPlugin), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The CLI finds the language host on PATH (`pulumi plugin install`
	// refuses it: release builds bundle it beside the CLI); the Automation
	// API of the teststack command finds the CLI on PATH.
	for name, target := range map[string]string{"pulumi-language-go": langGo, "pulumi": cli} {
		if err := os.Symlink(target, filepath.Join(e.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	e.vars = append(cleanEnviron(),
		"PATH="+e.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+home,
		"PULUMI_BACKEND_URL=file://"+filepath.ToSlash(e.BackendDir),
		"PULUMI_CONFIG_PASSPHRASE=rehearsal",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		// --event-log, which the Automation API uses too.
		"PULUMI_DEBUG_COMMANDS=true",
		// The language host's go build uses the module cache only: no
		// module download goes through the fake Google's proxy.
		"GOPROXY=off",
		// Each rehearsal compiles its own copy of the repository: without
		// -trimpath the compiled packages would carry the copy's path and
		// none would come from the build cache.
		"GOFLAGS=-mod=readonly -trimpath",
		// The program's actAs gate checks every 250 ms instead of 5 s.
		"ASYNCJOBS_IAM_POLL_INTERVAL=250ms",
	)
	e.vars = append(e.vars, e.Google.Env()...)

	if err := e.seedGoogle(!o.NotBootstrapped); err != nil {
		t.Fatalf("rehearsal: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("command output:\n%s", e.Log.Tail(300))
		}
	})
	return e
}

// cleanEnviron is the process environment without what would reach a real
// cloud or change how the CLI and Go behave.
func cleanEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PULUMI_"), strings.HasPrefix(k, "GOOGLE_"), strings.HasPrefix(k, "CLOUDSDK_"),
			strings.HasPrefix(k, "ASYNCJOBS_"), strings.HasPrefix(k, "KUBE"),
			k == "HTTPS_PROXY", k == "https_proxy", k == "HTTP_PROXY", k == "http_proxy", k == "NO_PROXY", k == "no_proxy",
			k == "SSL_CERT_FILE", k == "SSL_CERT_DIR", k == "GOFLAGS", k == "GOPROXY":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// stackConfig is the Config the program runs with for a stack file of the
// copy, recorded (package stackplan), not computed again.
func (e *Env) stackConfig(stack string) (stacks.Config, error) {
	_, cfg, err := stackplan.Record(e.Dir, stack)
	if err != nil {
		return stacks.Config{}, fmt.Errorf("stack file Pulumi.%s.yaml: %w", stack, err)
	}
	return cfg, nil
}

// projects lists the Google projects the stack files and the bootstrap's
// example stack name: they exist before anything is deployed.
func (e *Env) projects() ([]string, error) {
	names, err := stackfile.Stacks(e.Dir)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{BootstrapProject: true}
	for _, name := range names {
		cfg, err := e.stackConfig(name)
		if err != nil {
			return nil, err
		}
		set[cfg.Project] = true
		set[cfg.ClusterProject()] = true
	}
	return slices.Sorted(func(yield func(string) bool) {
		for p := range set {
			if !yield(p) {
				return
			}
		}
	}), nil
}

// seedGoogle creates what exists before any stack's first up: the CronJob
// completions metric of every cluster project (the bootstrap's, made long
// before), and every cluster a stack file uses without creating it.
func (e *Env) seedGoogle(bootstrapped bool) error {
	names, err := stackfile.Stacks(e.Dir)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, name := range names {
		cfg, err := e.stackConfig(name)
		if err != nil {
			return err
		}
		if project := cfg.ClusterProject(); bootstrapped && !done["metric "+project] {
			done["metric "+project] = true
			m := monitoring.CompletionsMetric(project)
			if err := e.GoogleDo(http.MethodPost, "logging.googleapis.com/v2/projects/"+project+"/metrics", metricBody(m), nil); err != nil {
				return fmt.Errorf("seeding the completions metric of %s: %w", project, err)
			}
			e.Google.Backdate(project, m.Name)
		}
		if cfg.GKE.Name == "" || cfg.GKE.Create {
			continue
		}
		path := fmt.Sprintf("container.googleapis.com/v1beta1/projects/%s/locations/%s/clusters", cfg.ClusterProject(), cfg.GKE.Names.Location)
		if key := path + "/" + cfg.GKE.Name; !done[key] {
			done[key] = true
			body := map[string]any{"cluster": map[string]any{"name": cfg.GKE.Name}}
			if err := e.GoogleDo(http.MethodPost, path, body, nil); err != nil {
				return fmt.Errorf("creating the existing cluster of Pulumi.%s.yaml: %w", name, err)
			}
			// Read back, so that it is in the request log from the start.
			if err := e.GoogleDo(http.MethodGet, key, nil, nil); err != nil {
				return fmt.Errorf("reading the existing cluster of Pulumi.%s.yaml: %w", name, err)
			}
		}
	}
	return nil
}

// metricBody is the Logging API's LogMetric of m.
func metricBody(m monitoring.LogMetric) map[string]any {
	var labels []map[string]any
	for _, l := range m.Labels {
		labels = append(labels, map[string]any{"key": l.Key, "valueType": "STRING", "description": l.Description})
	}
	return map[string]any{
		"name": m.Name, "description": m.Description, "filter": m.Filter,
		"metricDescriptor": map[string]any{"metricKind": "DELTA", "valueType": "INT64", "unit": "1", "labels": labels},
		"labelExtractors":  m.Extractors,
	}
}

// GoogleDo sends one request to the fake Google as Owner: path is
// "<host>/<path>", body (when not nil) is sent as JSON and the answer is
// decoded into out (when not nil). A status other than 2xx is an error.
func (e *Env) GoogleDo(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.Google.Client(Owner).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n lines.
func (s *SyncBuffer) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := strings.Split(s.b.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Checkout makes the copy hold the repository as it is at a git revision
// (a release tag), as `git checkout` in a user's clone would: the files of
// the current checkout go, the revision's come, and what the user made
// there (the stack files of test stacks, build/) stays.
func (e *Env) Checkout(ctx context.Context, rev string) {
	e.t.Helper()
	root, err := RepoRoot()
	if err != nil {
		e.t.Fatal(err)
	}
	ls := exec.CommandContext(ctx, "git", "-C", root, "ls-tree", "-r", "-z", "--name-only", rev+"^{commit}")
	out, err := ls.Output()
	if err != nil {
		e.t.Fatalf("git ls-tree %s: %v (a shallow clone lacks it: git fetch --tags --unshallow)", rev, err)
	}
	e.removeCheckout()
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", rev+"^{commit}")
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", e.Dir)
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	pipe, err := archive.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	extract.Stdin = pipe
	if err := extract.Start(); err != nil {
		e.t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		e.t.Fatalf("git archive %s: %v\n%s", rev, err, stderr.String())
	}
	if err := extract.Wait(); err != nil {
		e.t.Fatalf("extracting %s: %v", rev, err)
	}
	e.files = strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
}

// CheckoutCurrent makes the copy hold the working tree's files again.
func (e *Env) CheckoutCurrent() {
	e.t.Helper()
	e.removeCheckout()
	files, err := copyTree(setup.tree, e.Dir)
	if err != nil {
		e.t.Fatalf("rehearsal: copying the repository: %v", err)
	}
	e.files = files
}

// removeCheckout removes the files of the current checkout.
func (e *Env) removeCheckout() {
	e.t.Helper()
	for _, rel := range e.files {
		if err := os.Remove(filepath.Join(e.Dir, rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.t.Fatal(err)
		}
	}
	e.files = nil
}
