package fakegcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	deployer  = "serviceAccount:deployer@ci.iam.gserviceaccount.com"
	runEmail  = "worker-run@" + testProject + ".iam.gserviceaccount.com"
	actAsText = "Error 403: Permission 'iam.serviceaccounts.actAs' denied on service account " + runEmail
)

// actAsFixture is a fixture with the rule on: deployer deploys testProject,
// bindings take 2s to take effect; the account exists.
func actAsFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.env[CallersEnv] = `{"` + testProject + `":"` + deployer + `"}`
	f.env[PropagationEnv] = "2s"
	f.configure(f.s, map[string]any{"project": testProject, "region": testRegion})
	deps(f)
	return f
}

func grantActAs(f *fixture, name, member string) {
	f.t.Helper()
	f.mustCreate(f.s, tAccountIAM, name, map[string]any{
		"serviceAccountId": "projects/" + testProject + "/serviceAccounts/" + runEmail,
		"role":             "roles/iam.serviceAccountUser",
		"member":           member,
	})
}

// actAsUsers are the resources that need actAs on the account they name.
var actAsUsers = []struct {
	name, typ string
	in        map[string]any
}{
	{"cloud run service", tRun, map[string]any{"name": "worker", "location": testRegion,
		"template": map[string]any{"serviceAccount": runEmail}}},
	{"push subscription", tSubscription, map[string]any{"name": "push", "topic": "jobs",
		"pushConfig": map[string]any{"pushEndpoint": "https://w.example/p", "oidcToken": map[string]any{"serviceAccountEmail": runEmail}}}},
	{"autopilot cluster", tCluster, map[string]any{"name": "c", "location": testRegion, "enableAutopilot": true,
		"clusterAutoscaling": map[string]any{"autoProvisioningDefaults": map[string]any{"serviceAccount": runEmail}}}},
	{"cluster node config", tCluster, map[string]any{"name": "c", "location": testRegion,
		"nodeConfig": map[string]any{"serviceAccount": runEmail}}},
}

// TestActAsNeedsAPropagatedGrant: creating what runs as an account fails
// with Google's 403 until the caller's serviceAccountUser binding on it is
// the propagation delay old; a binding for someone else never counts.
func TestActAsNeedsAPropagatedGrant(t *testing.T) {
	for _, tc := range actAsUsers {
		t.Run(tc.name, func(t *testing.T) {
			f := actAsFixture(t)
			refused := func(when string) {
				t.Helper()
				_, _, err := f.create(f.s, tc.typ, tc.name, tc.in)
				if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Error creating") ||
					!strings.Contains(err.Error(), strings.TrimPrefix(actAsText, "Error ")) {
					t.Fatalf("%s: create = %v, want the 403 actAs text", when, err)
				}
			}
			refused("no binding")
			grantActAs(f, "someone-else", "serviceAccount:other@ci.iam.gserviceaccount.com")
			f.now = f.now.Add(time.Hour)
			refused("a binding for another member")
			grantActAs(f, "deployer", deployer)
			refused("a binding just made")
			f.now = f.now.Add(1999 * time.Millisecond)
			refused("a binding 1.999s old")
			f.now = f.now.Add(time.Millisecond)
			f.mustCreate(f.s, tc.typ, tc.name, tc.in)
		})
	}
}

// TestActAsOff: without CallersEnv nothing is checked (every other test
// of the stand-in creates services without bindings).
func TestActAsOff(t *testing.T) {
	f := newFixture(t)
	deps(f)
	f.mustCreate(f.s, actAsUsers[0].typ, "w", actAsUsers[0].in)
}

// TestActAsOnUpdate: a new revision needs actAs too; a binding deleted
// since refuses the update.
func TestActAsOnUpdate(t *testing.T) {
	f := actAsFixture(t)
	grantActAs(f, "deployer", deployer)
	f.now = f.now.Add(time.Minute)
	id, outs := f.mustCreate(f.s, tRun, "w", actAsUsers[0].in)
	found, err := Remove(f.dir, tAccountIAM, "projects/"+testProject+"/serviceAccounts/"+runEmail+"/roles/iam.serviceAccountUser/"+deployer)
	if err != nil || !found {
		t.Fatalf("removing the binding: %v, %v", found, err)
	}
	news := map[string]any{"name": "worker", "location": testRegion, "__defaults": []any{},
		"template": map[string]any{"serviceAccount": runEmail, "containers": []any{map[string]any{"image": "x:2"}}}}
	_, err = f.s.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn(tRun, "w"), Type: tRun, Id: id,
		Olds: pbProps(t, outs), OldInputs: pbProps(t, outs), News: pb(t, news)})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Error updating Service") {
		t.Fatalf("update = %v, want the 403", err)
	}
}

func TestActAsConfigRejected(t *testing.T) {
	for _, tc := range []struct{ name, callers, delay, want string }{
		{"callers not JSON", "asyncjobs-dev=x", "", CallersEnv},
		{"no callers", "{}", "", CallersEnv},
		{"bad delay", `{"p":"user:a@b.c"}`, "soon", PropagationEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.env[CallersEnv], f.env[PropagationEnv] = tc.callers, tc.delay
			_, err := f.s.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: pb(t, map[string]any{"project": testProject})})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Configure = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestIAMHandler: testIamPermissions answers from the same store with the
// same rule as the provider.
func TestIAMHandler(t *testing.T) {
	f := actAsFixture(t)
	rule, err := ActAsFromEnv(func(k string) string { return f.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(IAMHandler(f.dir, rule, func() time.Time { return f.now }))
	t.Cleanup(srv.Close)
	ask := func(email string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"permissions": []string{"iam.serviceAccounts.actAs"}})
		resp, err := http.Post(fmt.Sprintf("%s/v1/projects/-/serviceAccounts/%s:testIamPermissions", srv.URL, email), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, strings.TrimSpace(buf.String())
	}
	const none, granted = `{"permissions":[]}`, `{"permissions":["iam.serviceAccounts.actAs"]}`
	expect := func(when, email string, code int, body string) {
		t.Helper()
		gotCode, gotBody := ask(email)
		if gotCode != code || !strings.Contains(gotBody, body) {
			t.Errorf("%s: %d %s, want %d %s", when, gotCode, gotBody, code, body)
		}
	}
	expect("no binding", runEmail, http.StatusOK, none)
	grantActAs(f, "deployer", deployer)
	expect("a binding just made", runEmail, http.StatusOK, none)
	f.now = f.now.Add(2 * time.Second)
	expect("a binding 2s old", runEmail, http.StatusOK, granted)
	expect("missing account", "nobody@"+testProject+".iam.gserviceaccount.com", http.StatusNotFound, "does not exist")
	expect("project without a caller", "x@elsewhere.iam.gserviceaccount.com", http.StatusBadRequest, "no caller for project")

	resp, err := http.Get(srv.URL + "/v1/projects/-/serviceAccounts/" + runEmail)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an account: %d, want 404 (not modelled)", resp.StatusCode)
	}
}
