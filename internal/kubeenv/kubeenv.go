// Package kubeenv runs a real kube-apiserver (backed by a real etcd) for
// tests, so manifests can be checked by the API server's own validation
// (server-side apply dry runs with strict field validation).
//
// The binaries come from scripts/tools.sh, which builds or installs them on
// first use and caches them outside the repository. When a binary cannot be
// provided, Start skips the test, except under CI=true, where it fails it.
//
// Only the standard library is used: the API server is spoken to with
// net/http.
package kubeenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/toolcache"
)

// FieldManager is the field manager used for applies and creates.
const FieldManager = "asyncjobs-test"

const (
	startAttempts   = 3
	etcdTimeout     = 60 * time.Second
	apiReadyTimeout = 180 * time.Second
	stopTimeout     = 15 * time.Second
)

// Env is a running kube-apiserver with its etcd.
type Env struct {
	// URL is the API server's base URL, e.g. https://127.0.0.1:41234.
	URL string
	// Token is a bearer token of a user in group system:masters.
	Token string
	// Client trusts the API server's self-signed serving certificate. It
	// does not add the token; Do does.
	Client *http.Client
	// CAFile holds the PEM certificates the API server serves with.
	CAFile string
	// Kubeconfig is the path of a kubeconfig file for this server (for
	// client-go or other tools).
	Kubeconfig string

	mu        sync.Mutex
	discovery map[string][]apiResource // apiVersion -> resources
}

type apiResource struct {
	Name       string `json:"name"`
	Namespaced bool   `json:"namespaced"`
	Kind       string `json:"kind"`
}

// StatusError is a non-2xx answer of the API server. Message is the
// message of the returned Status object (the validation errors), or the raw
// body when the answer was not a Status.
type StatusError struct {
	Method  string
	Path    string
	Code    int
	Reason  string
	Message string
}

func (e *StatusError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = http.StatusText(e.Code)
	}
	return fmt.Sprintf("kube-apiserver: %s %s: %d %s: %s", e.Method, e.Path, e.Code, reason, e.Message)
}

// IsReason reports whether err is a StatusError with the given reason, such
// as "NotFound", "AlreadyExists", "Invalid" or "BadRequest".
func IsReason(err error, reason string) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Reason == reason
}

// Start starts etcd and kube-apiserver on free loopback ports and waits until
// the API server is ready. Both are stopped and their files removed when the
// test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	etcdBin := toolcache.Path(t, "etcd")
	apiserverBin := toolcache.Path(t, "kube-apiserver")

	dir := t.TempDir()
	etcdURL := startEtcd(t, etcdBin, dir)
	env := startAPIServer(t, apiserverBin, dir, etcdURL)
	return env
}

func startEtcd(t testing.TB, bin, dir string) string {
	t.Helper()
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		clientPort, peerPort, err := freePorts2()
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		dataDir := filepath.Join(dir, fmt.Sprintf("etcd-data-%d", attempt))
		if err := os.Mkdir(dataDir, 0o700); err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
		p, err := startProcess(t, "etcd", bin, filepath.Join(dir, fmt.Sprintf("etcd-%d.log", attempt)),
			"--name=kubeenv",
			"--data-dir="+dataDir,
			"--listen-client-urls="+clientURL,
			"--advertise-client-urls="+clientURL,
			"--listen-peer-urls="+peerURL,
			"--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=kubeenv="+peerURL,
			"--initial-cluster-state=new",
		)
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		err = waitFor(etcdTimeout, p, func() bool {
			resp, err := http.Get(clientURL + "/health")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"true"`))
		})
		if err == nil {
			return clientURL
		}
		lastErr = fmt.Errorf("%w\n--- etcd log (last lines) ---\n%s", err, p.logTail(40))
		p.stop()
		if !p.exited() {
			break // hung rather than, say, a port taken between picking and binding
		}
	}
	t.Fatalf("kubeenv: starting etcd: %v", lastErr)
	return ""
}

func startAPIServer(t testing.TB, bin, dir, etcdURL string) *Env {
	t.Helper()
	token, err := randomHex(32)
	if err != nil {
		t.Fatalf("kubeenv: %v", err)
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	// token,user,uid,"group1,group2"
	if err := os.WriteFile(tokenFile, []byte(token+",kubeenv-admin,kubeenv-admin,system:masters\n"), 0o600); err != nil {
		t.Fatalf("kubeenv: %v", err)
	}
	saKeyFile := filepath.Join(dir, "service-account.key")
	if err := writeRSAKey(saKeyFile); err != nil {
		t.Fatalf("kubeenv: %v", err)
	}

	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		certDir := filepath.Join(dir, fmt.Sprintf("apiserver-certs-%d", attempt))
		p, err := startProcess(t, "kube-apiserver", bin, filepath.Join(dir, fmt.Sprintf("kube-apiserver-%d.log", attempt)),
			"--etcd-servers="+etcdURL,
			// Keep attempts (and concurrent envs sharing nothing) apart.
			"--etcd-prefix=/registry-"+strconv.Itoa(attempt),
			"--bind-address=127.0.0.1",
			"--secure-port="+strconv.Itoa(port),
			"--cert-dir="+certDir,
			"--token-auth-file="+tokenFile,
			"--authorization-mode=RBAC",
			"--service-account-key-file="+saKeyFile,
			"--service-account-signing-key-file="+saKeyFile,
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-cluster-ip-range=10.0.0.0/24",
			// No kube-controller-manager runs, so no garbage collector: without
			// this, a foreground delete (the Kubernetes provider's default)
			// waits forever on the foregroundDeletion finalizer.
			"--enable-garbage-collector=false",
		)
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		env := &Env{
			URL:    "https://127.0.0.1:" + strconv.Itoa(port),
			Token:  token,
			CAFile: filepath.Join(certDir, "apiserver.crt"),
		}
		err = waitFor(apiReadyTimeout, p, func() bool {
			if env.Client == nil {
				c, err := clientFor(env.CAFile)
				if err != nil {
					return false // the certificate is not written yet
				}
				env.Client = c
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := env.Do(ctx, http.MethodGet, "/readyz", "", nil)
			return err == nil
		})
		if err == nil {
			env.Kubeconfig = filepath.Join(dir, "kubeconfig")
			if err := env.writeKubeconfig(); err != nil {
				t.Fatalf("kubeenv: %v", err)
			}
			return env
		}
		lastErr = fmt.Errorf("%w\n--- kube-apiserver log (last lines) ---\n%s", err, p.logTail(40))
		p.stop()
		if !p.exited() {
			break
		}
	}
	t.Fatalf("kubeenv: starting kube-apiserver: %v", lastErr)
	return nil
}

// clientFor returns an HTTP client that trusts the certificates in caFile
// (kube-apiserver writes its self-signed serving certificate and the CA
// that signed it there).
func clientFor(caFile string) (*http.Client, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no certificates in %s", caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: transport, Timeout: 60 * time.Second}, nil
}

func (e *Env) writeKubeconfig() error {
	ca, err := os.ReadFile(e.CAFile)
	if err != nil {
		return err
	}
	// JSON is valid YAML, and kubeconfig loaders accept it.
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "kubeenv",
		"clusters": []any{map[string]any{
			"name": "kubeenv",
			"cluster": map[string]any{
				"server":                     e.URL,
				"certificate-authority-data": base64.StdEncoding.EncodeToString(ca),
			},
		}},
		"users": []any{map[string]any{
			"name": "kubeenv-admin",
			"user": map[string]any{"token": e.Token},
		}},
		"contexts": []any{map[string]any{
			"name":    "kubeenv",
			"context": map[string]any{"cluster": "kubeenv", "user": "kubeenv-admin"},
		}},
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(e.Kubeconfig, data, 0o600)
}

// Do sends a request to the API server with the admin token. path is
// relative to URL and may carry a query. A non-2xx answer is returned as a
// *StatusError (with the body as the first result).
func (e *Env) Do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.URL+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.Token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return data, statusError(method, path, resp.StatusCode, data)
	}
	return data, nil
}

func statusError(method, path string, code int, body []byte) *StatusError {
	se := &StatusError{Method: method, Path: path, Code: code, Message: strings.TrimSpace(string(body))}
	var status struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	if json.Unmarshal(body, &status) == nil && status.Kind == "Status" {
		se.Message = status.Message
		se.Reason = status.Reason
	}
	return se
}

// ResourcePath returns the URL path (relative to URL) of the object named by
// obj's apiVersion, kind, metadata.namespace and metadata.name, using the API
// server's discovery, so any built-in kind works (Namespace, ServiceAccount,
// ConfigMap, apps/v1 Deployment, autoscaling/v2 HorizontalPodAutoscaler,
// policy/v1 PodDisruptionBudget, batch/v1 CronJob, ...). A namespaced object
// without a namespace is taken to be in "default".
func (e *Env) ResourcePath(ctx context.Context, obj map[string]any) (string, error) {
	collection, name, err := e.collectionPath(ctx, obj)
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", fmt.Errorf("kubeenv: %s has no metadata.name", describe(obj))
	}
	return collection + "/" + url.PathEscape(name), nil
}

func (e *Env) collectionPath(ctx context.Context, obj map[string]any) (collection, name string, err error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion == "" || kind == "" {
		return "", "", fmt.Errorf("kubeenv: object has no apiVersion or kind: %v", obj)
	}
	meta, _ := obj["metadata"].(map[string]any)
	name, _ = meta["name"].(string)
	namespace, _ := meta["namespace"].(string)

	res, err := e.resourceFor(ctx, apiVersion, kind)
	if err != nil {
		return "", "", err
	}
	prefix := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		prefix = "/api/" + apiVersion
	}
	if !res.Namespaced {
		return prefix + "/" + res.Name, name, nil
	}
	if namespace == "" {
		namespace = "default"
	}
	return prefix + "/namespaces/" + url.PathEscape(namespace) + "/" + res.Name, name, nil
}

func (e *Env) resourceFor(ctx context.Context, apiVersion, kind string) (apiResource, error) {
	e.mu.Lock()
	resources, ok := e.discovery[apiVersion]
	e.mu.Unlock()
	if !ok {
		path := "/apis/" + apiVersion
		if !strings.Contains(apiVersion, "/") {
			path = "/api/" + apiVersion
		}
		data, err := e.Do(ctx, http.MethodGet, path, "", nil)
		if err != nil {
			return apiResource{}, fmt.Errorf("kubeenv: discovering %s: %w", apiVersion, err)
		}
		var list struct {
			Resources []apiResource `json:"resources"`
		}
		if err := json.Unmarshal(data, &list); err != nil {
			return apiResource{}, fmt.Errorf("kubeenv: discovering %s: %w", apiVersion, err)
		}
		resources = list.Resources
		e.mu.Lock()
		if e.discovery == nil {
			e.discovery = map[string][]apiResource{}
		}
		e.discovery[apiVersion] = resources
		e.mu.Unlock()
	}
	for _, r := range resources {
		if r.Kind == kind && !strings.Contains(r.Name, "/") { // not a subresource
			return r, nil
		}
	}
	return apiResource{}, fmt.Errorf("kubeenv: the API server has no kind %s in %s", kind, apiVersion)
}

// DryRunApply server-side-applies obj as a dry run with strict field
// validation (unknown or duplicate fields are errors). A rejection is a
// *StatusError whose message is the API server's, e.g. 422 Invalid
// "... spec.jobTemplate.spec.completions: Required value: when completion mode is Indexed".
// Unknown fields in an apply patch come back (in Kubernetes v1.32) as 500
// "failed to create typed patch object ...: .spec.x: field not declared in schema".
func (e *Env) DryRunApply(ctx context.Context, obj map[string]any) error {
	return e.apply(ctx, obj, true)
}

// Apply server-side-applies obj for real, with strict field validation.
func (e *Env) Apply(ctx context.Context, obj map[string]any) error {
	return e.apply(ctx, obj, false)
}

func (e *Env) apply(ctx context.Context, obj map[string]any, dryRun bool) error {
	path, err := e.ResourcePath(ctx, obj)
	if err != nil {
		return err
	}
	q := url.Values{}
	if dryRun {
		q.Set("dryRun", "All")
	}
	q.Set("fieldManager", FieldManager)
	q.Set("fieldValidation", "Strict")
	q.Set("force", "true")
	// JSON is valid YAML, so it is a valid apply patch.
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("kubeenv: encoding %s: %w", describe(obj), err)
	}
	_, err = e.Do(ctx, http.MethodPatch, path+"?"+q.Encode(), "application/apply-patch+yaml", body)
	return err
}

// Create creates obj for real (POST to its collection), with strict field
// validation. Creating an object that exists fails with reason
// "AlreadyExists" (see IsReason).
func (e *Env) Create(ctx context.Context, obj map[string]any) error {
	collection, _, err := e.collectionPath(ctx, obj)
	if err != nil {
		return err
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("kubeenv: encoding %s: %w", describe(obj), err)
	}
	q := url.Values{"fieldManager": {FieldManager}, "fieldValidation": {"Strict"}}
	_, err = e.Do(ctx, http.MethodPost, collection+"?"+q.Encode(), "application/json", body)
	return err
}

// Get reads the object that obj names (by apiVersion, kind, namespace and
// name). A missing object fails with reason "NotFound" (see IsReason).
func (e *Env) Get(ctx context.Context, obj map[string]any) (map[string]any, error) {
	path, err := e.ResourcePath(ctx, obj)
	if err != nil {
		return nil, err
	}
	data, err := e.Do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("kubeenv: decoding %s: %w", path, err)
	}
	return out, nil
}

// List returns the items of a collection path, e.g.
// /api/v1/namespaces/NS/serviceaccounts.
func (e *Env) List(ctx context.Context, path string) ([]map[string]any, error) {
	data, err := e.Do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("kubeenv: decoding %s: %w", path, err)
	}
	return list.Items, nil
}

// FinalizeNamespaces stands in for the namespace controller (part of
// kube-controller-manager, which does not run here) until ctx is done:
// every namespace being deleted has its finalizers cleared, so it goes
// away. Unlike the real controller it does not delete what the namespace
// still holds; callers check that it is empty. It returns at once; errors
// are retried on the next round.
func (e *Env) FinalizeNamespaces(ctx context.Context) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			items, err := e.List(ctx, "/api/v1/namespaces")
			if err != nil {
				continue
			}
			for _, ns := range items {
				meta, _ := ns["metadata"].(map[string]any)
				name, _ := meta["name"].(string)
				if meta["deletionTimestamp"] == nil || name == "" {
					continue
				}
				body, _ := json.Marshal(map[string]any{
					"apiVersion": "v1", "kind": "Namespace",
					"metadata": map[string]any{"name": name},
					"spec":     map[string]any{"finalizers": []string{}},
				})
				_, _ = e.Do(ctx, http.MethodPut, "/api/v1/namespaces/"+url.PathEscape(name)+"/finalize", "application/json", body)
			}
		}
	}()
}

func describe(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v %v/%v", obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
}

// ---- processes ----

type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
	once    sync.Once
}

func startProcess(t testing.TB, name, bin, logPath string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("kubeenv: %s log (last lines):\n%s", name, p.logTail(30))
		}
	})
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop terminates the process (SIGTERM, then SIGKILL) and waits for it.
func (p *process) stop() {
	p.once.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func (p *process) logTail(lines int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitFor polls ready until it returns true, the process exits or the
// timeout passes.
func waitFor(timeout time.Duration, p *process, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.waitErr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready after %s", p.name, timeout)
		}
		select {
		case <-p.done:
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ---- helpers ----

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts2 returns two distinct free ports.
func freePorts2() (int, int, error) {
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l1.Close()
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l2.Close()
	return l1.Addr().(*net.TCPAddr).Port, l2.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating the service-account key: %w", err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}
