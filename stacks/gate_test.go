package stacks_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/program/actas"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// actAsAccounts lists, from a deployment's plan, the accounts whose actAs
// creating a resource needs: what Cloud Run services run as, the accounts
// in push subscriptions' OIDC tokens, what created clusters' nodes run as.
func actAsAccounts(t *testing.T, plan *recorder.Plan) []string {
	t.Helper()
	set := map[string]bool{}
	for typ, path := range map[string]string{
		"gcp:cloudrunv2/service:Service":       "template.serviceAccount",
		"gcp:pubsub/subscription:Subscription": "pushConfig.oidcToken.serviceAccountEmail",
		"gcp:container/cluster:Cluster":        "clusterAutoscaling.autoProvisioningDefaults.serviceAccount",
	} {
		for _, r := range plan.ByType(typ) {
			if v, ok := r.Input(path); ok {
				email, _ := v.(string)
				if !strings.HasSuffix(email, ".iam.gserviceaccount.com") {
					t.Errorf("%s %s: %s = %v, want a known service account", typ, r.Name, path, v)
				}
				set[email] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// TestDeploymentWaitsForEveryActAsAccount: in a deployment of each stack
// file the gate is asked, once, about exactly the accounts the stack's
// resources need actAs on (prod: the worker's runtime and push accounts and
// the created cluster's node account), and the resources still get the
// accounts' e-mails.
func TestDeploymentWaitsForEveryActAsAccount(t *testing.T) {
	for _, name := range stackNames(t) {
		t.Run(name, func(t *testing.T) {
			st := loadStack(t, name)
			gate := &plantest.Gate{}
			plan, err := recorder.Run(stacks.ProgramWith(gate), recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys})
			if err != nil {
				t.Fatal(err)
			}
			want := actAsAccounts(t, plan)
			if len(want) == 0 {
				t.Fatal("no resource needs actAs: the check would prove nothing")
			}
			if name == "prod" && len(want) != 3 {
				t.Errorf("prod needs actAs on %v, want the runtime, push and node accounts", want)
			}
			calls := gate.Calls()
			if got := slices.Sorted(maps.Keys(calls)); !slices.Equal(got, want) {
				t.Errorf("gate asked about %v, want %v", got, want)
			}
			for a, n := range calls {
				if n != 1 {
					t.Errorf("gate asked %d times about %s, want once", n, a)
				}
			}
		})
	}
}

// TestRefusedPushAccountStopsPushSubscriptions: push subscriptions, and
// nothing that does not need the push account, wait for its gate.
func TestRefusedPushAccountStopsPushSubscriptions(t *testing.T) {
	st := loadStack(t, "prod")
	push := "worker-push@" + st.Config["gcp:project"] + ".iam.gserviceaccount.com"
	gate := &plantest.Gate{Refuse: map[string]error{push: errors.New("push account refused")}}
	plan, err := recorder.Run(stacks.ProgramWith(gate), recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys})
	if err == nil || !strings.Contains(err.Error(), "push account refused") {
		t.Fatalf("deployment: %v, want the refusal", err)
	}
	if r := plan.Find("gcp:pubsub/subscription:Subscription", "topic-jobs-jobs-push"); r != nil {
		t.Errorf("push subscription registered although its account was refused")
	}
	plantest.Find(t, plan, "gcp:pubsub/subscription:Subscription", "topic-jobs-jobs-worker")
	plantest.Find(t, plan, "gcp:cloudrunv2/service:Service", "worker")
}

func TestPreviewAsksNoGate(t *testing.T) {
	for _, name := range stackNames(t) {
		t.Run(name, func(t *testing.T) {
			st := loadStack(t, name)
			gate := &plantest.Gate{}
			if _, err := recorder.Run(stacks.ProgramWith(gate), recorder.Options{
				Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys, Preview: true,
			}); err != nil {
				t.Fatal(err)
			}
			if calls := gate.Calls(); len(calls) != 0 {
				t.Errorf("a preview asked the gate about %v", calls)
			}
		})
	}
}

// TestMocksNeverCallGoogle: the program as main.go runs it (stacks.Program),
// recorded as a deployment under the SDK's mocks, sends nothing to the IAM
// API, even with the endpoint override pointing at a live server; the same
// server does get the real gate's checks when that gate is handed in, so
// the counter would see them.
func TestMocksNeverCallGoogle(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"permissions": []string{actas.Permission}})
	}))
	t.Cleanup(srv.Close)
	t.Setenv(actas.EndpointEnv, srv.URL)
	t.Setenv(actas.IntervalEnv, "1ms")
	st := loadStack(t, "prod")
	opts := recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys}

	if _, err := recorder.Run(stacks.Program, opts); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("stacks.Program under the mocks called the IAM API %d times", n)
	}

	real, err := actas.FromEnv(func(k string) string {
		return map[string]string{actas.EndpointEnv: srv.URL, actas.IntervalEnv: "1ms"}[k]
	}, actas.Provider{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recorder.Run(stacks.ProgramWith(real), opts); err != nil {
		t.Fatal(err)
	}
	// Three accounts, two confirming answers each.
	if n := calls.Load(); n != 6 {
		t.Errorf("the real gate made %d calls, want 6", n)
	}
}
