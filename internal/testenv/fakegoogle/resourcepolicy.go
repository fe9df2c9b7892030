package fakegoogle

import (
	"net/http"
	"time"
)

// resourcePolicy: a resource's allow policy goes with the resource. At
// Google an allow policy is attached to one resource and is part of it
// (https://cloud.google.com/iam/docs/allow-policies: "You grant roles to
// principals by attaching an allow policy to a resource"): a topic,
// subscription, queue or service created again under a deleted one's name
// starts with no grants. The mock keeps policies in a store of their own,
// keyed by the resource's path, so a new resource of the same name would
// inherit the old grants, and a grant the program forgot to re-create with
// its resource would seem to survive a replacement.
//
// When the mock has deleted a resource whose policy the layer has seen
// set, the layer empties that policy. (A service account's own policy is
// emptied by deletedPrincipal, which also rewrites the grants naming it.)
type resourcePolicy struct{ book *iamBook }

func (resourcePolicy) name() string { return "resource-policy" }

func (r resourcePolicy) handle(x *exchange, next func() *reply) *reply {
	if x.method != http.MethodDelete {
		return next()
	}
	rep := next()
	if !rep.ok() {
		return rep
	}
	p := policyRef{host: x.host, path: canonicalPolicyPath(x.host, x.path)}
	known := false
	for _, k := range r.book.known() {
		if k.key() == p.key() {
			known = true
		}
	}
	if !known {
		return rep
	}
	r.book.setMu.Lock()
	defer r.book.setMu.Unlock()
	prev, err := r.book.policy(p)
	if err != nil {
		return googleError(r.name(), http.StatusInternalServerError, "INTERNAL", "fakegoogle: the resource is deleted, but its policy was not: "+err.Error())
	}
	old := bindingsOf(prev)
	if len(old) == 0 {
		return rep
	}
	if err := r.book.setPolicy(p, map[string]any{}); err != nil {
		return googleError(r.name(), http.StatusInternalServerError, "INTERNAL", "fakegoogle: the resource is deleted, but its policy was not: "+err.Error())
	}
	r.book.record(p, old, nil, time.Now())
	rep.rule = r.name()
	return rep
}
