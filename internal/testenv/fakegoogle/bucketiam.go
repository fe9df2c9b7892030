package fakegoogle

import (
	"net/http"
	"regexp"
	"time"
)

// bucketIAM serves Cloud Storage's bucket policies, which the mock does
// not (GET and PUT .../b/BUCKET/iam answer 404 there): the JSON API names
// them as a sub-resource, not with :getIamPolicy
// (https://cloud.google.com/storage/docs/json_api/v1/buckets/getIamPolicy,
// https://cloud.google.com/storage/docs/json_api/v1/buckets/setIamPolicy).
// The policy is kept in the mock's policy store like every other, so the
// deleted-principal rule reaches it, and answered in Storage's form (kind
// storage#policy, resourceId projects/_/buckets/BUCKET). A bucket that
// does not exist answers 404 "The specified bucket does not exist."
type bucketIAM struct{ book *iamBook }

func (bucketIAM) name() string { return "bucket-iam" }

var bucketIAMPath = regexp.MustCompile(`^/storage/v1/b/([^/]+)/iam$`)

func (r bucketIAM) handle(x *exchange, next func() *reply) *reply {
	m := bucketIAMPath.FindStringSubmatch(x.path)
	if x.host != "storage.googleapis.com" || m == nil || (x.method != http.MethodGet && x.method != http.MethodPut) {
		return next()
	}
	bucket := m[1]
	ok, err := r.book.m.exists(x.host, "/storage/v1/b/"+escapePath(bucket))
	if err != nil {
		return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
	}
	if !ok {
		return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "The specified bucket does not exist.")
	}
	p := policyRef{host: x.host, path: "/storage/v1/b/" + bucket}
	r.book.setMu.Lock()
	defer r.book.setMu.Unlock()
	prev, err := r.book.policy(p)
	if err != nil {
		return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
	}
	policy := prev
	if x.method == http.MethodPut {
		set := x.object()
		if set == nil {
			return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", "Required policy is missing.")
		}
		if etag, ok := set["etag"]; ok && etag != prev["etag"] {
			return googleError(r.name(), http.StatusPreconditionFailed, "FAILED_PRECONDITION", "Precondition Failed")
		}
		delete(set, "kind")
		delete(set, "resourceId")
		if err := r.book.setPolicy(p, set); err != nil {
			return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
		}
		r.book.record(p, bindingsOf(prev), bindingsOf(set), time.Now())
		if policy, err = r.book.policy(p); err != nil {
			return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
		}
	}
	out := map[string]any{"kind": "storage#policy", "resourceId": "projects/_/buckets/" + bucket}
	for k, v := range policy {
		out[k] = v
	}
	if _, ok := out["version"]; !ok {
		out["version"] = 1
	}
	if _, ok := out["bindings"]; !ok {
		out["bindings"] = []any{}
	}
	return jsonReply(r.name(), out)
}
