package fakegoogle

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// cloudKMS serves the part of Cloud KMS the bootstrap uses, which the mock
// does not serve (its KMS fake is not registered: every cloudkms request
// answers 404): key rings and symmetric crypto keys
// (https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings,
// https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys),
// their versions as the provider's delete destroys them, and their IAM
// policies (left to the mock's policy store).
//
// The fault it keeps: key rings and keys cannot be deleted
// (https://cloud.google.com/kms/docs/resource-hierarchy#lifetime), so
// their names are never free again. pulumi-gcp "deletes" a key ring by
// forgetting it and a key by destroying its versions; creating either
// again answers 409 ALREADY_EXISTS "KeyRing NAME already exists." (the same
// for a CryptoKey).
type cloudKMS struct {
	m *mock

	mu       sync.Mutex
	rings    map[string]map[string]any   // full name
	keys     map[string]map[string]any   // full name
	versions map[string][]map[string]any // key's full name
}

func (*cloudKMS) name() string { return "kms" }

func newCloudKMS(m *mock) *cloudKMS {
	return &cloudKMS{m: m, rings: map[string]map[string]any{}, keys: map[string]map[string]any{}, versions: map[string][]map[string]any{}}
}

var (
	kmsRings    = regexp.MustCompile(`^/v1/(projects/([^/]+)/locations/[^/]+)/keyRings$`)
	kmsRing     = regexp.MustCompile(`^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/:]+)$`)
	kmsKeys     = regexp.MustCompile(`^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/:]+)/cryptoKeys$`)
	kmsKey      = regexp.MustCompile(`^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/:]+/cryptoKeys/[^/:]+)$`)
	kmsVersions = regexp.MustCompile(`^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/:]+/cryptoKeys/[^/:]+)/cryptoKeyVersions$`)
	kmsVersion  = regexp.MustCompile(`^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/:]+/cryptoKeys/[^/:]+/cryptoKeyVersions/[^/:]+)(:destroy)?$`)
)

func (r *cloudKMS) handle(x *exchange, next func() *reply) *reply {
	if x.host != "cloudkms.googleapis.com" || iamVerb.MatchString(x.path) {
		return next()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC()
	switch {
	case kmsRings.MatchString(x.path):
		m := kmsRings.FindStringSubmatch(x.path)
		switch x.method {
		case http.MethodPost:
			ok, err := r.m.exists("cloudresourcemanager.googleapis.com", "/v1/projects/"+escapePath(m[2]))
			if err != nil {
				return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
			}
			if !ok {
				return googleError(r.name(), http.StatusForbidden, "PERMISSION_DENIED",
					fmt.Sprintf("Permission 'cloudkms.keyRings.create' denied on resource '%s' (or it may not exist).", m[1]))
			}
			name := m[1] + "/keyRings/" + x.query.Get("keyRingId")
			if r.rings[name] != nil {
				return googleError(r.name(), http.StatusConflict, "ALREADY_EXISTS", "KeyRing "+name+" already exists.")
			}
			r.rings[name] = map[string]any{"name": name, "createTime": now.Format(time.RFC3339Nano)}
			return jsonReply(r.name(), r.rings[name])
		case http.MethodGet:
			return jsonReply(r.name(), listOf(r.rings, m[1]+"/keyRings/", "keyRings"))
		}
	case kmsRing.MatchString(x.path) && x.method == http.MethodGet:
		name := kmsRing.FindStringSubmatch(x.path)[1]
		if r.rings[name] == nil {
			return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "KeyRing "+name+" not found.")
		}
		return jsonReply(r.name(), r.rings[name])
	case kmsKeys.MatchString(x.path):
		ring := kmsKeys.FindStringSubmatch(x.path)[1]
		if r.rings[ring] == nil {
			return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "KeyRing "+ring+" not found.")
		}
		switch x.method {
		case http.MethodPost:
			return r.createKey(x, ring, now)
		case http.MethodGet:
			return jsonReply(r.name(), listOf(r.keys, ring+"/cryptoKeys/", "cryptoKeys"))
		}
	case kmsKey.MatchString(x.path):
		name := kmsKey.FindStringSubmatch(x.path)[1]
		key := r.keys[name]
		if key == nil {
			return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "CryptoKey "+name+" not found.")
		}
		switch x.method {
		case http.MethodGet:
			return jsonReply(r.name(), key)
		case http.MethodPatch:
			body := x.object()
			for _, path := range strings.Split(x.query.Get("updateMask"), ",") {
				if path = camelPath(strings.TrimSpace(path)); path != "" {
					setMasked(key, body, path)
				}
			}
			return jsonReply(r.name(), key)
		}
	case kmsVersions.MatchString(x.path) && x.method == http.MethodGet:
		name := kmsVersions.FindStringSubmatch(x.path)[1]
		if r.keys[name] == nil {
			return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "CryptoKey "+name+" not found.")
		}
		list := []any{}
		for _, v := range r.versions[name] {
			state, _ := v["state"].(string)
			if strings.Contains(x.query.Get("filter"), "DESTROY") && strings.HasPrefix(state, "DESTROY") {
				continue
			}
			list = append(list, v)
		}
		out := map[string]any{"totalSize": len(list)}
		if len(list) > 0 {
			out["cryptoKeyVersions"] = list
		}
		return jsonReply(r.name(), out)
	case kmsVersion.MatchString(x.path):
		m := kmsVersion.FindStringSubmatch(x.path)
		for _, v := range r.versions[m[1][:strings.LastIndex(m[1], "/cryptoKeyVersions/")]] {
			if v["name"] != m[1] {
				continue
			}
			switch {
			case x.method == http.MethodGet && m[2] == "":
				return jsonReply(r.name(), v)
			case x.method == http.MethodPost && m[2] == ":destroy":
				if state, _ := v["state"].(string); strings.HasPrefix(state, "DESTROY") {
					return googleError(r.name(), http.StatusBadRequest, "FAILED_PRECONDITION", "CryptoKeyVersion "+m[1]+" is already "+state+".")
				}
				v["state"] = "DESTROY_SCHEDULED"
				v["destroyTime"] = now.Add(24 * time.Hour).Format(time.RFC3339Nano)
				return jsonReply(r.name(), v)
			}
		}
		return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "CryptoKeyVersion "+m[1]+" not found.")
	}
	return googleError(r.name(), http.StatusNotFound, "NOT_FOUND", "fakegoogle: Cloud KMS method not served: "+x.method+" "+x.path)
}

// createKey makes a crypto key with Google's defaults for a symmetric key:
// a first version unless skipInitialVersionCreation, the next rotation a
// rotation period from now, versions destroyed 30 days after scheduling.
func (r *cloudKMS) createKey(x *exchange, ring string, now time.Time) *reply {
	name := ring + "/cryptoKeys/" + x.query.Get("cryptoKeyId")
	if r.keys[name] != nil {
		return googleError(r.name(), http.StatusConflict, "ALREADY_EXISTS", "CryptoKey "+name+" already exists.")
	}
	body := x.object()
	key := map[string]any{
		"name": name, "purpose": "ENCRYPT_DECRYPT", "createTime": now.Format(time.RFC3339Nano),
		"versionTemplate":          map[string]any{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protectionLevel": "SOFTWARE"},
		"destroyScheduledDuration": "2592000s",
	}
	for k, v := range body {
		if !isEmpty(v) {
			key[k] = v
		}
	}
	if p, _ := key["rotationPeriod"].(string); p != "" && key["nextRotationTime"] == nil {
		if d, err := time.ParseDuration(p); err == nil {
			key["nextRotationTime"] = now.Add(d).Format(time.RFC3339Nano)
		}
	}
	if x.query.Get("skipInitialVersionCreation") != "true" {
		v := map[string]any{
			"name": name + "/cryptoKeyVersions/1", "state": "ENABLED", "createTime": now.Format(time.RFC3339Nano),
			"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protectionLevel": "SOFTWARE",
		}
		r.versions[name] = append(r.versions[name], v)
		key["primary"] = v
	}
	r.keys[name] = key
	return jsonReply(r.name(), key)
}

// setMasked copies one field-mask path (dotted) from body to obj; a field
// absent from body is cleared.
func setMasked(obj, body map[string]any, path string) {
	parts := strings.Split(path, ".")
	src, dst := body, obj
	for _, p := range parts[:len(parts)-1] {
		s, _ := src[p].(map[string]any)
		d, _ := dst[p].(map[string]any)
		if d == nil {
			d = map[string]any{}
			dst[p] = d
		}
		src, dst = s, d
	}
	last := parts[len(parts)-1]
	if v, ok := src[last]; ok && !isEmpty(v) {
		dst[last] = v
	} else {
		delete(dst, last)
	}
}

// listOf lists the objects whose name is prefix + one more segment.
func listOf(store map[string]map[string]any, prefix, field string) map[string]any {
	var names []string
	for n := range store {
		if rest, ok := strings.CutPrefix(n, prefix); ok && !strings.Contains(rest, "/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := map[string]any{"totalSize": len(names)}
	if len(names) > 0 {
		list := make([]any, 0, len(names))
		for _, n := range names {
			list = append(list, store[n])
		}
		out[field] = list
	}
	return out
}
