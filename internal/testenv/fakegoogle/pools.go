package fakegoogle

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// poolTombstone is how long a deleted pool or provider keeps its ID:
// "Soft-deleted pools are permanently deleted after approximately 30 days
// ... You cannot reuse the ID of a soft-deleted pool until it is
// permanently deleted" (the same for providers).
const poolTombstone = 30 * 24 * time.Hour

// workloadIdentity serves IAM's workload identity pools and their
// providers, which the mock does not serve at all and the bootstrap
// creates (https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools,
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers):
//
//   - create (POST ...?workloadIdentityPoolId= / ?workloadIdentityPoolProviderId=),
//     answered with a done long-running operation whose GET answers too;
//   - get and list (showDeleted), patch (updateMask, in either case of its
//     field names), delete and undelete;
//   - name uses the project number, state is ACTIVE or DELETED, and the
//     fields Google documents are kept: displayName, description,
//     disabled; for a provider attributeMapping, attributeCondition and
//     one of oidc (issuerUri, allowedAudiences, jwksJson), aws, saml,
//     x509;
//   - delete is a soft delete: state DELETED with an expireTime, the ID
//     reserved for 30 days (a create answers 409 ALREADY_EXISTS
//     "Requested entity already exists", as Google does), while get still
//     answers the object. pulumi-gcp's decoder reads state DELETED as gone;
//   - an ID of 4 to 32 characters of [a-z0-9-] not starting with "gcp-",
//     exactly one protocol per provider, an OIDC issuer URI on https://,
//     and an OIDC provider's mapping of google.subject, as Google requires
//     (the wording of those 400s is the layer's).
//
// Patching or deleting a deleted object, or creating a provider in a
// deleted pool, answers 404 here (Google's answer is not documented).
type workloadIdentity struct {
	m *mock

	mu        sync.Mutex
	pools     map[string]*softDeleted // project ID/pool ID
	providers map[string]*softDeleted // project ID/pool ID/provider ID
	ops       map[string]map[string]any
	seq       int
}

func (*workloadIdentity) name() string { return "workload-identity" }

// softDeleted is a pool or provider as Google returns it.
type softDeleted struct {
	obj       map[string]any
	deletedAt time.Time
}

func (o *softDeleted) deleted() bool { return !o.deletedAt.IsZero() }

func newWorkloadIdentity(m *mock) *workloadIdentity {
	return &workloadIdentity{m: m, pools: map[string]*softDeleted{}, providers: map[string]*softDeleted{}, ops: map[string]map[string]any{}}
}

var (
	poolsBase     = `^/v1/projects/([^/]+)/locations/global/workloadIdentityPools`
	poolsPath     = regexp.MustCompile(poolsBase + `$`)
	poolPath      = regexp.MustCompile(poolsBase + `/([^/:]+)(:undelete)?$`)
	providersPath = regexp.MustCompile(poolsBase + `/([^/:]+)/providers$`)
	providerPath  = regexp.MustCompile(poolsBase + `/([^/:]+)/providers/([^/:]+)(:undelete)?$`)
	poolOpPath    = regexp.MustCompile(`^/v1/(projects/[^/]+/locations/global/workloadIdentityPools/.+/operations/[^/]+)$`)
	wipID         = regexp.MustCompile(`^[a-z0-9-]{4,32}$`)
)

func (r *workloadIdentity) handle(x *exchange, next func() *reply) *reply {
	if x.host != "iam.googleapis.com" || !strings.Contains(x.path, "/workloadIdentityPools") {
		return next()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := poolOpPath.FindStringSubmatch(x.path); m != nil && x.method == http.MethodGet {
		op, ok := r.ops[m[1]]
		if !ok {
			return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		}
		return jsonReply(r.name(), op)
	}
	var project, pool, provider, verb string
	switch {
	case poolsPath.MatchString(x.path):
		project = poolsPath.FindStringSubmatch(x.path)[1]
	case poolPath.MatchString(x.path):
		m := poolPath.FindStringSubmatch(x.path)
		project, pool, verb = m[1], m[2], m[3]
	case providersPath.MatchString(x.path):
		m := providersPath.FindStringSubmatch(x.path)
		project, pool = m[1], m[2]
	case providerPath.MatchString(x.path):
		m := providerPath.FindStringSubmatch(x.path)
		project, pool, provider, verb = m[1], m[2], m[3], m[4]
	default:
		return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "fakegoogle: no such workload identity method: "+x.method+" "+x.path)
	}
	id, number, err := r.m.project(project)
	if err != nil {
		return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
	}
	if id == "" {
		return googleError(r.name(), http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("Permission denied on resource project %s (or it may not exist).", project))
	}
	parent := "projects/" + number + "/locations/global/workloadIdentityPools"
	now := time.Now()
	switch {
	case pool == "" && x.method == http.MethodPost:
		return r.create(x, r.pools, id+"/", parent, "workloadIdentityPoolId", now, nil)
	case pool == "" && x.method == http.MethodGet:
		return r.list(x, r.pools, id+"/", "workloadIdentityPools")
	case provider == "" && strings.HasSuffix(x.path, "/providers"):
		poolObj := r.pools[id+"/"+pool]
		switch x.method {
		case http.MethodPost:
			if poolObj == nil || poolObj.deleted() {
				return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
			}
			return r.create(x, r.providers, id+"/"+pool+"/", parent+"/"+pool+"/providers", "workloadIdentityPoolProviderId", now, validateProvider)
		case http.MethodGet:
			return r.list(x, r.providers, id+"/"+pool+"/", "workloadIdentityPoolProviders")
		}
	case provider == "":
		return r.one(x, r.pools, id+"/"+pool, verb, now)
	default:
		return r.one(x, r.providers, id+"/"+pool+"/"+provider, verb, now)
	}
	return googleError(r.name(), http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "fakegoogle: no such workload identity method: "+x.method+" "+x.path)
}

// create makes a pool or provider: key prefix, the parent of its name, the
// query parameter carrying its ID.
func (r *workloadIdentity) create(x *exchange, store map[string]*softDeleted, prefix, parent, idParam string, now time.Time,
	validate func(map[string]any) string) *reply {
	id := x.query.Get(idParam)
	if !wipID.MatchString(id) || strings.HasPrefix(id, "gcp-") {
		return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf(
			"%s %q: an ID must be 4 to 32 characters of lowercase letters, digits and hyphens, and must not start with gcp-", idParam, id))
	}
	if old := store[prefix+id]; old != nil {
		if !old.deleted() || now.Sub(old.deletedAt) < poolTombstone {
			return googleError(r.name(), http.StatusConflict, "ALREADY_EXISTS", "Requested entity already exists")
		}
		delete(store, prefix+id)
	}
	body := x.object()
	if body == nil {
		body = map[string]any{}
	}
	if msg := validateCommon(body); msg != "" {
		return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", msg)
	}
	if validate != nil {
		if msg := validate(body); msg != "" {
			return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", msg)
		}
	}
	obj := map[string]any{}
	for _, f := range wipFields {
		if v, ok := body[f]; ok && !isEmpty(v) {
			obj[f] = v
		}
	}
	obj["name"] = parent + "/" + id
	obj["state"] = "ACTIVE"
	store[prefix+id] = &softDeleted{obj: obj}
	return r.done(obj)
}

// wipFields are the writable fields of pools and providers.
var wipFields = []string{"displayName", "description", "disabled", "attributeMapping", "attributeCondition", "oidc", "aws", "saml", "x509"}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// validateCommon checks the limits Google documents for both kinds.
func validateCommon(body map[string]any) string {
	if s, _ := body["displayName"].(string); len([]rune(s)) > 32 {
		return "displayName cannot exceed 32 characters"
	}
	if s, _ := body["description"].(string); len([]rune(s)) > 256 {
		return "description cannot exceed 256 characters"
	}
	return ""
}

// validateProvider checks a provider: one protocol, an OIDC issuer on
// https://, google.subject mapped for OIDC.
func validateProvider(body map[string]any) string {
	n := 0
	for _, p := range []string{"oidc", "aws", "saml", "x509"} {
		if !isEmpty(body[p]) {
			n++
		}
	}
	if n != 1 {
		return "exactly one of oidc, aws, saml or x509 must be set"
	}
	if oidc, ok := body["oidc"].(map[string]any); ok {
		if uri, _ := oidc["issuerUri"].(string); !strings.HasPrefix(uri, "https://") {
			return "oidc.issuerUri must be an https:// URL"
		}
		mapping, _ := body["attributeMapping"].(map[string]any)
		if _, ok := mapping["google.subject"]; !ok {
			return "attributeMapping must map google.subject for an OIDC provider"
		}
	}
	return ""
}

// one serves GET, PATCH, DELETE and :undelete of a pool or provider.
func (r *workloadIdentity) one(x *exchange, store map[string]*softDeleted, key, verb string, now time.Time) *reply {
	o := store[key]
	if o != nil && o.deleted() && now.Sub(o.deletedAt) >= poolTombstone {
		delete(store, key)
		o = nil
	}
	notFound := googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
	switch {
	case verb == ":undelete" && x.method == http.MethodPost:
		if o == nil {
			return notFound
		}
		if !o.deleted() {
			return googleError(r.name(), http.StatusBadRequest, "FAILED_PRECONDITION", "The entity is not deleted.")
		}
		o.deletedAt = time.Time{}
		o.obj["state"] = "ACTIVE"
		delete(o.obj, "expireTime")
		return r.done(o.obj)
	case verb != "":
		// only :undelete is a verb here
	case x.method == http.MethodGet:
		if o == nil {
			return notFound
		}
		return jsonReply(r.name(), o.obj)
	case x.method == http.MethodPatch:
		if o == nil || o.deleted() {
			return notFound
		}
		mask := x.query.Get("updateMask")
		if mask == "" {
			return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", "updateMask is required")
		}
		body := x.object()
		if msg := validateCommon(body); msg != "" {
			return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", msg)
		}
		for _, path := range strings.Split(mask, ",") {
			if msg := applyMask(o.obj, body, camelPath(strings.TrimSpace(path))); msg != "" {
				return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", msg)
			}
		}
		return r.done(o.obj)
	case x.method == http.MethodDelete:
		if o == nil || o.deleted() {
			return notFound
		}
		o.deletedAt = now
		o.obj["state"] = "DELETED"
		o.obj["expireTime"] = now.Add(poolTombstone).UTC().Format(time.RFC3339Nano)
		return r.done(o.obj)
	}
	return googleError(r.name(), http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "fakegoogle: no such workload identity method: "+x.method+" "+x.path)
}

// applyMask copies one field-mask path from the request body to obj.
func applyMask(obj, body map[string]any, path string) string {
	top, sub, nested := strings.Cut(path, ".")
	writable := false
	for _, f := range wipFields {
		writable = writable || f == top
	}
	if !writable {
		return fmt.Sprintf("updateMask names %q, which cannot be updated", path)
	}
	if !nested {
		if v, ok := body[top]; ok && !isEmpty(v) {
			obj[top] = v
		} else {
			delete(obj, top)
		}
		return ""
	}
	src, _ := body[top].(map[string]any)
	dst, _ := obj[top].(map[string]any)
	if dst == nil {
		dst = map[string]any{}
	}
	if v, ok := src[sub]; ok && !isEmpty(v) {
		dst[sub] = v
	} else {
		delete(dst, sub)
	}
	if len(dst) == 0 {
		delete(obj, top)
	} else {
		obj[top] = dst
	}
	return ""
}

// camelPath turns a field mask path's snake_case names into the JSON
// names (the provider sends oidc.allowed_audiences).
func camelPath(p string) string {
	parts := strings.Split(p, ".")
	for i, s := range parts {
		var b strings.Builder
		up := false
		for _, c := range s {
			switch {
			case c == '_':
				up = true
			case up:
				b.WriteRune(unicode.ToUpper(c))
				up = false
			default:
				b.WriteRune(c)
			}
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, ".")
}

// list serves a list call: live objects, and deleted ones with
// showDeleted=true.
func (r *workloadIdentity) list(x *exchange, store map[string]*softDeleted, prefix, field string) *reply {
	showDeleted := x.query.Get("showDeleted") == "true"
	var keys []string
	for k, o := range store {
		rest, ok := strings.CutPrefix(k, prefix)
		if ok && !strings.Contains(rest, "/") && (showDeleted || !o.deleted()) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	list := make([]any, 0, len(keys))
	for _, k := range keys {
		list = append(list, store[k].obj)
	}
	out := map[string]any{}
	if len(list) > 0 {
		out[field] = list
	}
	return jsonReply(r.name(), out)
}

// done answers a long-running operation that has finished with obj, and
// keeps it for a GET of its name.
func (r *workloadIdentity) done(obj map[string]any) *reply {
	r.seq++
	name := fmt.Sprintf("%s/operations/fakegoogle-%d", obj["name"], r.seq)
	typ := "type.googleapis.com/google.iam.v1.WorkloadIdentityPool"
	if strings.Contains(name, "/providers/") {
		typ = "type.googleapis.com/google.iam.v1.WorkloadIdentityPoolProvider"
	}
	// A copy: later changes of the object do not change the operation.
	resp := map[string]any{}
	if b, err := json.Marshal(obj); err == nil {
		_ = json.Unmarshal(b, &resp)
	}
	resp["@type"] = typ
	op := map[string]any{"name": name, "done": true, "response": resp}
	r.ops[name] = op
	return jsonReply(r.name(), op)
}
