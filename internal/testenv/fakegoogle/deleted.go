package fakegoogle

import (
	"net/http"
	"regexp"
	"strings"
	"time"
)

// deletedPrincipal: when a service account is deleted, the allow policies
// that name it keep the binding, with the member rewritten to
// deleted:serviceAccount:EMAIL?uid=UNIQUE_ID
// (https://cloud.google.com/iam/docs/principal-identifiers, "deleted
// principals"): a new account of the same e-mail does not inherit the old
// one's roles. The mock leaves serviceAccount:EMAIL in place, so a policy
// would show a deleted account as granted, and silently grant a new one.
//
// The rewrite happens when the account is deleted, in every policy the
// layer has seen set; the uid is the account's uniqueId as the mock
// returned it. The account's own policy goes with it (the mock would hand
// it to a new account of the same e-mail).
type deletedPrincipal struct{ book *iamBook }

func (deletedPrincipal) name() string { return "deleted-principal" }

// accountPath is one service account of IAM's API.
var accountPath = regexp.MustCompile(`^/v1/projects/[^/]+/serviceAccounts/[^/:]+$`)

func (r deletedPrincipal) handle(x *exchange, next func() *reply) *reply {
	if x.host != "iam.googleapis.com" || x.method != http.MethodDelete || !accountPath.MatchString(x.path) {
		return next()
	}
	status, account, err := r.book.m.call(http.MethodGet, x.host, x.escapedPath(), nil)
	if err != nil {
		return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
	}
	rep := next()
	if status != http.StatusOK || !rep.ok() {
		return rep
	}
	email, _ := account["email"].(string)
	uid, _ := account["uniqueId"].(string)
	if email == "" || uid == "" {
		return rep
	}
	changed, err := r.rewrite(policyRef{host: x.host, path: "/v1/projects/" + projectOfAccount(email, x.path) + "/serviceAccounts/" + email},
		"serviceAccount:"+email, "deleted:serviceAccount:"+email+"?uid="+uid)
	if err != nil {
		return googleError(r.name(), http.StatusInternalServerError, "INTERNAL", "fakegoogle: the account is deleted, but its bindings were not: "+err.Error())
	}
	if changed {
		rep.rule = r.name()
	}
	return rep
}

// rewrite empties the deleted account's own policy and replaces member by
// deleted in every other policy the book knows.
func (r deletedPrincipal) rewrite(own policyRef, member, deleted string) (bool, error) {
	r.book.setMu.Lock()
	defer r.book.setMu.Unlock()
	changed := false
	for _, p := range r.book.known() {
		policy, err := r.book.policy(p)
		if err != nil {
			return changed, err
		}
		if p == own {
			if len(bindingsOf(policy)) == 0 {
				continue
			}
			if err := r.book.setPolicy(p, map[string]any{"etag": policy["etag"]}); err != nil {
				return changed, err
			}
			r.book.record(p, bindingsOf(policy), nil, time.Now())
			changed = true
			continue
		}
		prev := bindingsOf(policy)
		hit := false
		list, _ := policy["bindings"].([]any)
		for _, b := range list {
			bm, _ := b.(map[string]any)
			members, _ := bm["members"].([]any)
			for i, m := range members {
				if m == member {
					members[i], hit = deleted, true
				}
			}
		}
		if !hit {
			continue
		}
		if err := r.book.setPolicy(p, policy); err != nil {
			return changed, err
		}
		r.book.renamed(p, prev, member, deleted)
		changed = true
	}
	return changed, nil
}

// projectOfAccount is the project of a user-managed account: its e-mail's
// domain, else the project of the path it was deleted by.
func projectOfAccount(email, path string) string {
	if m := accountEmail.FindStringSubmatch(email); m != nil {
		return m[1]
	}
	return strings.SplitN(strings.TrimPrefix(path, "/v1/projects/"), "/", 2)[0]
}
