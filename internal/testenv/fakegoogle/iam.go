package fakegoogle

import (
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// iamBook remembers what the mock's IAM policies do not say: when the
// layer saw each binding (role, member) added to a resource's policy, and
// which resources have a policy at all. The mock keeps every policy in one
// store keyed by host and path, and sets them through :setIamPolicy; the
// layer sees every such call.
type iamBook struct {
	m *mock

	// setMu serialises setIamPolicy calls with the reads around them.
	setMu sync.Mutex

	mu        sync.Mutex
	resources map[string]policyRef
	// added is when the layer saw a binding appear: policy key, role,
	// member. A binding the layer never saw appear predates it: old.
	added map[string]time.Time
}

// policyRef names a resource whose policy the mock keeps: host and path
// (without the :getIamPolicy verb).
type policyRef struct{ host, path string }

func (p policyRef) key() string { return p.host + p.path }

func newIAMBook(m *mock) *iamBook {
	return &iamBook{m: m, resources: map[string]policyRef{}, added: map[string]time.Time{}}
}

func bindingKey(p policyRef, role, member string) string {
	return p.key() + "|" + role + "|" + member
}

// binding is one unconditional binding of a policy.
type binding struct{ role, member string }

// bindingsOf lists the unconditional role/member pairs of a policy object
// (conditions are not evaluated here, so a conditional binding grants
// nothing).
func bindingsOf(policy map[string]any) []binding {
	var out []binding
	list, _ := policy["bindings"].([]any)
	for _, b := range list {
		bm, _ := b.(map[string]any)
		if bm == nil || bm["condition"] != nil {
			continue
		}
		role, _ := bm["role"].(string)
		members, _ := bm["members"].([]any)
		for _, m := range members {
			if s, ok := m.(string); ok {
				out = append(out, binding{role, s})
			}
		}
	}
	return out
}

// policy reads a resource's policy from the mock (an empty one when it has
// none).
func (b *iamBook) policy(p policyRef) (map[string]any, error) {
	status, obj, err := b.m.call(http.MethodPost, p.host, escapePath(p.path)+":getIamPolicy", map[string]any{})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &mockStatusError{what: "getIamPolicy of " + p.key(), status: status}
	}
	if obj == nil {
		obj = map[string]any{}
	}
	return obj, nil
}

// setPolicy writes a policy straight to the mock, as Google's own side
// effects do (no rule applies).
func (b *iamBook) setPolicy(p policyRef, policy map[string]any) error {
	status, _, err := b.m.call(http.MethodPost, p.host, escapePath(p.path)+":setIamPolicy", map[string]any{"policy": policy})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return &mockStatusError{what: "setIamPolicy of " + p.key(), status: status}
	}
	return nil
}

// since is when a binding took effect for the layer: zero (long ago) when
// the layer never saw it added.
func (b *iamBook) since(p policyRef, role, member string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.added[bindingKey(p, role, member)]
}

// known lists the resources that have had a policy set.
func (b *iamBook) known() []policyRef {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]policyRef, 0, len(b.resources))
	for _, p := range b.resources {
		out = append(out, p)
	}
	return out
}

// record notes a policy that replaced prev on p at now.
func (b *iamBook) record(p policyRef, prev, next []binding, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resources[p.key()] = p
	before := map[binding]bool{}
	for _, x := range prev {
		before[x] = true
	}
	after := map[binding]bool{}
	for _, x := range next {
		after[x] = true
		if !before[x] {
			b.added[bindingKey(p, x.role, x.member)] = now
		}
	}
	for x := range before {
		if !after[x] {
			delete(b.added, bindingKey(p, x.role, x.member))
		}
	}
}

// renamed moves the timestamps of member's bindings on p to its new name.
func (b *iamBook) renamed(p policyRef, prev []binding, member, to string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range prev {
		if x.member != member {
			continue
		}
		k := bindingKey(p, x.role, member)
		if t, ok := b.added[k]; ok {
			b.added[bindingKey(p, x.role, to)] = t
			delete(b.added, k)
		}
	}
}

type mockStatusError struct {
	what   string
	status int
}

func (e *mockStatusError) Error() string {
	return "fakegoogle: the mock answered " + e.what + " with " + http.StatusText(e.status)
}

// escapePath escapes a decoded path for a URL.
func escapePath(p string) string { return (&url.URL{Path: p}).EscapedPath() }

// iamVerb splits ".../RESOURCE:getIamPolicy" into the resource path and verb.
var iamVerb = regexp.MustCompile(`^(/.+):(getIamPolicy|setIamPolicy|testIamPermissions)$`)

// wildcardAccount is a service account named with the project wildcard "-".
var wildcardAccount = regexp.MustCompile(`^/v1/projects/-/serviceAccounts/([^/@]+@([^./]+)\.iam\.gserviceaccount\.com)$`)

// canonicalPolicyPath names a resource as the mock must key its policy:
// IAM's projects/-/serviceAccounts/EMAIL is the account of its own project
// ("Using - as a wildcard for the PROJECT_ID will infer the project from
// the account", https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/getIamPolicy);
// the mock would keep a second policy under the wildcard.
func canonicalPolicyPath(host, path string) string {
	if host == "iam.googleapis.com" {
		if m := wildcardAccount.FindStringSubmatch(path); m != nil {
			return "/v1/projects/" + m[2] + "/serviceAccounts/" + m[1]
		}
	}
	return path
}

// iamGrants keeps the book: it timestamps the bindings each setIamPolicy
// adds, and gives a service account one policy whichever way it is named.
// It never answers for the mock.
type iamGrants struct{ book *iamBook }

func (iamGrants) name() string { return "iam-grants" }

func (r iamGrants) handle(x *exchange, next func() *reply) *reply {
	m := iamVerb.FindStringSubmatch(x.path)
	if m == nil || x.method != http.MethodPost {
		return next()
	}
	resource := canonicalPolicyPath(x.host, m[1])
	if resource != m[1] {
		x.setPath(resource + ":" + m[2])
	}
	if m[2] != "setIamPolicy" {
		return next()
	}
	p := policyRef{host: x.host, path: resource}
	r.book.setMu.Lock()
	defer r.book.setMu.Unlock()
	prev, err := r.book.policy(p)
	if err != nil {
		return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
	}
	rep := next()
	if !rep.ok() {
		return rep
	}
	var set map[string]any
	if body := x.object(); body != nil {
		set, _ = body["policy"].(map[string]any)
	}
	r.book.record(p, bindingsOf(prev), bindingsOf(set), time.Now())
	return rep
}
