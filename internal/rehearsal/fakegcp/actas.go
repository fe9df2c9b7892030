package fakegcp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The actAs rule: creating (or updating) a resource that runs as a service
// account, or mints its tokens, needs the caller's
// iam.serviceAccounts.actAs on the account, and a grant of it takes a while
// to take effect (https://cloud.google.com/iam/docs/access-change-propagation).
// pulumi-gcp does not retry the refusal (see internal/actas), so a
// program that creates the account, grants the deployer actAs and at once
// creates the resource fails; the rule lets a rehearsal show that.

// CallersEnv turns the rule on: a JSON object from project ID to the IAM
// member that deploys it ({"asyncjobs-dev": "serviceAccount:..."}). The
// caller of a check is the one of the project the service account lives in.
const CallersEnv = "ASYNCJOBS_FAKEGCP_CALLERS"

// PropagationEnv is how old (a Go duration) a roles/iam.serviceAccountUser
// binding must be before it counts; 0 when unset.
const PropagationEnv = "ASYNCJOBS_FAKEGCP_IAM_PROPAGATION"

// roleServiceAccountUser is the role whose binding grants actAs here;
// nothing else does (the programs grant no wider role).
const roleServiceAccountUser = "roles/iam.serviceAccountUser"

// ActAs is the rule's configuration.
type ActAs struct {
	// Callers maps a project ID to the member that deploys it.
	Callers map[string]string
	// Propagation is how long a new binding takes to take effect.
	Propagation time.Duration
}

// ActAsFromEnv reads the rule from CallersEnv and PropagationEnv; nil when
// CallersEnv is unset (the rule is off).
func ActAsFromEnv(getenv func(string) string) (*ActAs, error) {
	raw := getenv(CallersEnv)
	if raw == "" {
		return nil, nil
	}
	a := &ActAs{}
	if err := json.Unmarshal([]byte(raw), &a.Callers); err != nil || len(a.Callers) == 0 {
		return nil, fmt.Errorf("fakegcp: %s=%q: want a JSON object from project ID to IAM member (%v)", CallersEnv, raw, err)
	}
	if v := getenv(PropagationEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("fakegcp: %s=%q: want a duration such as 2s", PropagationEnv, v)
		}
		a.Propagation = d
	}
	return a, nil
}

// actAsInputs are, by resource type, the inputs naming a service account
// whose actAs the caller needs: what a Cloud Run service runs as, the
// account in a push subscription's OIDC tokens, what a cluster's nodes run
// as.
var actAsInputs = map[string][]string{
	"gcp:cloudrunv2/service:Service":       {"template.serviceAccount"},
	"gcp:pubsub/subscription:Subscription": {"pushConfig.oidcToken.serviceAccountEmail"},
	"gcp:container/cluster:Cluster": {
		"clusterAutoscaling.autoProvisioningDefaults.serviceAccount",
		"nodeConfig.serviceAccount",
	},
}

// strPath reads a string at a dotted path of nested objects.
func strPath(m resource.PropertyMap, path string) string {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		if m = obj(m, p); m == nil {
			return ""
		}
	}
	return str(m, parts[len(parts)-1])
}

// verdict is what the fake Google says about a caller acting as an account.
type verdict int

const (
	allowed verdict = iota
	denied
	noAccount
)

// judge applies the rule to email at now: the account must exist and hold
// a serviceAccountUser binding for its project's caller created at least
// Propagation before now. It returns the caller too.
func (a *ActAs) judge(st *state, email string, now time.Time) (verdict, string, error) {
	ref := accountRef(email)
	project := projectOf(ref.key, "")
	caller, ok := a.Callers[project]
	if !ok {
		return denied, "", fmt.Errorf("fakegcp: no caller for project %q in %s (it names %v)", project, CallersEnv, keysOf(a.Callers))
	}
	if st.Resources[ref.key] == nil {
		return noAccount, caller, nil
	}
	b := st.Resources[ref.key+"|"+roleServiceAccountUser+"|"+caller]
	if b == nil || now.Sub(b.Created) < a.Propagation {
		return denied, caller, nil
	}
	return allowed, caller, nil
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (s *Server) actAsRule() *ActAs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.actAs
}

// check is Create's and Update's hook: Google's 403 when the caller may
// not (yet) act as an account the resource's inputs name. verb is
// "creating" or "updating", name what the error calls the resource. The text is Cloud Run's; Pub/Sub and GKE word theirs
// differently.
func (a *ActAs) check(st *state, k *kind, in resource.PropertyMap, name, verb string, now time.Time) error {
	if a == nil {
		return nil
	}
	for _, path := range actAsInputs[k.token] {
		email := strPath(in, path)
		if email == "" {
			continue
		}
		v, _, err := a.judge(st, email, now)
		if err != nil {
			return err
		}
		if v != allowed {
			return status.Errorf(codes.PermissionDenied,
				"Error %s %s %q: googleapi: Error 403: Permission 'iam.serviceaccounts.actAs' denied on service account %s (or it may not exist)., forbidden",
				verb, k.title, name, email)
		}
	}
	return nil
}

// IAMHandler serves the IAM API's projects.serviceAccounts.testIamPermissions
// (POST /v1/projects/-/serviceAccounts/<email>:testIamPermissions) from the
// store in dir, with the same rule as the provider: a 404 for a missing
// account, iam.serviceAccounts.actAs among the permissions returned only
// once the rule allows it. Anything else is a 404 naming what is modelled.
func IAMHandler(dir string, rule *ActAs, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix, suffix = "/v1/projects/-/serviceAccounts/", ":testIamPermissions"
		path := r.URL.Path
		if r.Method != http.MethodPost || !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) {
			googleError(w, http.StatusNotFound, "fakegcp: only POST "+prefix+"<email>"+suffix+" is modelled, not "+r.Method+" "+path)
			return
		}
		email := strings.TrimSuffix(strings.TrimPrefix(path, prefix), suffix)
		var req struct {
			Permissions []string `json:"permissions"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			googleError(w, http.StatusBadRequest, "fakegcp: request body: "+err.Error())
			return
		}
		var v verdict
		err := withState(dir, false, func(st *state) error {
			var err error
			v, _, err = rule.judge(st, email, now())
			return err
		})
		switch {
		case err != nil:
			googleError(w, http.StatusBadRequest, err.Error())
			return
		case v == noAccount:
			googleError(w, http.StatusNotFound, fmt.Sprintf("Service account projects/-/serviceAccounts/%s does not exist.", email))
			return
		}
		granted := []string{}
		for _, p := range req.Permissions {
			if p == "iam.serviceAccounts.actAs" && v == allowed {
				granted = append(granted, p)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"permissions": granted})
	})
}

func googleError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}
