package kubeenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// FieldManager is the field manager used for applies and creates.
const FieldManager = "asyncjobs-test"

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
