package fakegoogle

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	project  = "asyncjobs-dev"
	project2 = "asyncjobs-ops"
	// deployer is who runs `pulumi up` in these tests.
	deployer = "serviceAccount:pulumi-dev@asyncjobs-ci.iam.gserviceaccount.com"
	// admin seeds what a test needs (its grants are not the deployer's).
	admin = "user:admin@example.com"
)

// start runs a fake Google with the two test projects.
func start(t *testing.T, o Options) *Google {
	t.Helper()
	if o.Projects == nil {
		o.Projects = []string{project, project2}
	}
	return Start(t, o)
}

// answer is one response: its status and decoded JSON object.
type answer struct {
	status int
	obj    map[string]any
	raw    string
}

// errStatus and errMessage read Google's error object.
func (a answer) errStatus() string {
	e, _ := a.obj["error"].(map[string]any)
	s, _ := e["status"].(string)
	return s
}

func (a answer) errMessage() string {
	e, _ := a.obj["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// do sends a request to https://host/path through the layer.
func do(t *testing.T, c *http.Client, method, host, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+host+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s https://%s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, raw: string(b)}
	a.obj, _ = decodeObject(b)
	return a
}

// direct sends a request to the mock alone, as the layer's rules do.
func direct(t *testing.T, g *Google, method, host, path string, body any) answer {
	t.Helper()
	status, obj, err := g.mock.call(method, host, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: status, obj: obj}
}

// must fails the test unless a has the status.
func must(t *testing.T, what string, a answer, status int) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, a.status, status, a.raw)
	}
	return a
}

// wantError checks a Google error: HTTP code, status name, message part.
func wantError(t *testing.T, what string, a answer, code int, status, message string) {
	t.Helper()
	if a.status != code || a.errStatus() != status || !strings.Contains(a.errMessage(), message) {
		t.Errorf("%s: got %d %s %q (%s), want %d %s containing %q", what, a.status, a.errStatus(), a.errMessage(), a.raw, code, status, message)
	}
}

// lastRule is the rule that answered the latest request to path.
func lastRule(t *testing.T, g *Google, method, path string) string {
	t.Helper()
	reqs := g.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && reqs[i].Path == path {
			return reqs[i].Rule
		}
	}
	t.Fatalf("no %s %s in Requests()", method, path)
	return ""
}

// grant adds member to role on a resource's policy through the layer, as
// the provider's IAM members do (read, modify, write).
func grant(t *testing.T, c *http.Client, host, resource, role, member string) {
	t.Helper()
	p := must(t, "getIamPolicy "+resource, do(t, c, http.MethodPost, host, resource+":getIamPolicy", map[string]any{}), http.StatusOK).obj
	bindings, _ := p["bindings"].([]any)
	bindings = append(bindings, map[string]any{"role": role, "members": []any{member}})
	p["bindings"] = bindings
	must(t, "setIamPolicy "+resource, do(t, c, http.MethodPost, host, resource+":setIamPolicy", map[string]any{"policy": p}), http.StatusOK)
}

// members lists the members of role in a policy object.
func members(policy map[string]any, role string) []string {
	var out []string
	for _, b := range bindingsOf(policy) {
		if b.role == role {
			out = append(out, b.member)
		}
	}
	return out
}

// eventually retries f until it passes or the deadline.
func eventually(t *testing.T, within time.Duration, f func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
