package fakegoogle

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// actAs: creating a resource that runs as a service account (a Cloud Run
// service, GKE nodes) or mints its tokens (a push subscription's OIDC
// token) needs the caller's iam.serviceAccounts.actAs on the account, and a
// grant of it takes up to 7 minutes to take effect
// (https://cloud.google.com/iam/docs/access-change-propagation; the
// permission comes with roles/iam.serviceAccountUser and the basic Owner
// and Editor roles, https://cloud.google.com/iam/docs/service-account-permissions#user-role).
// Google answers 403 PERMISSION_DENIED "Permission 'iam.serviceaccounts.actAs'
// denied on service account S (or it may not exist)." (Cloud Run's wording;
// it is used for every kind here), which pulumi-gcp does not retry (see
// internal/program/actas). The mock checks nothing.
//
// Here the caller (the member its token stands for) may act as S once a
// binding of one of those roles for it, on S's policy or on the policy of
// S's project, was added at least Propagation ago (bindings the layer never
// saw added count as old). The same rule answers IAM's testIamPermissions
// on a service account, which internal/program/actas polls.
type actAs struct {
	book        *iamBook
	propagation time.Duration
}

func (actAs) name() string { return "actas" }

// actAsRoles hold iam.serviceAccounts.actAs.
var actAsRoles = map[string]bool{
	"roles/iam.serviceAccountUser": true,
	"roles/editor":                 true,
	"roles/owner":                  true,
}

// actAsPermission is the permission as IAM names it (Cloud Run's message
// writes it in lower case).
const actAsPermission = "iam.serviceAccounts.actAs"

// The requests that name an account the caller must be able to act as,
// and where in their bodies (dotted paths; "*" walks a list).
var actAsChecks = []struct {
	host, method string
	path         *regexp.Regexp
	fields       []string
	// mask, when set, is the update mask field that must name one of
	// maskFields for the check to apply (an update that leaves them alone
	// is not checked).
	mask       string
	maskFields []string
}{
	// Cloud Run v2: create (?serviceId=) and update.
	{host: "run.googleapis.com", method: http.MethodPost, path: regexp.MustCompile(`^/v2/projects/[^/]+/locations/[^/]+/services$`),
		fields: []string{"template.serviceAccount"}},
	{host: "run.googleapis.com", method: http.MethodPatch, path: regexp.MustCompile(`^/v2/projects/[^/]+/locations/[^/]+/services/[^/:]+$`),
		fields: []string{"template.serviceAccount"}},
	// Pub/Sub: create (PUT), update (PATCH {subscription, updateMask}),
	// modifyPushConfig.
	{host: "pubsub.googleapis.com", method: http.MethodPut, path: regexp.MustCompile(`^/v1/projects/[^/]+/subscriptions/[^/:]+$`),
		fields: []string{"pushConfig.oidcToken.serviceAccountEmail"}},
	{host: "pubsub.googleapis.com", method: http.MethodPatch, path: regexp.MustCompile(`^/v1/projects/[^/]+/subscriptions/[^/:]+$`),
		fields: []string{"subscription.pushConfig.oidcToken.serviceAccountEmail"}, mask: "updateMask", maskFields: []string{"pushConfig", "push_config"}},
	{host: "pubsub.googleapis.com", method: http.MethodPost, path: regexp.MustCompile(`^/v1/projects/[^/]+/subscriptions/[^/:]+:modifyPushConfig$`),
		fields: []string{"pushConfig.oidcToken.serviceAccountEmail"}},
	// GKE: a cluster (Standard nodes, node pools, Autopilot's
	// auto-provisioned nodes), its update, a node pool.
	{host: "container.googleapis.com", method: http.MethodPost, path: regexp.MustCompile(`^/v1(beta1)?/projects/[^/]+/(locations|zones)/[^/]+/clusters$`),
		fields: []string{"cluster.nodeConfig.serviceAccount", "cluster.nodePools.*.config.serviceAccount",
			"cluster.autoscaling.autoprovisioningNodePoolDefaults.serviceAccount"}},
	{host: "container.googleapis.com", method: http.MethodPut, path: regexp.MustCompile(`^/v1(beta1)?/projects/[^/]+/(locations|zones)/[^/]+/clusters/[^/:]+$`),
		fields: []string{"update.desiredClusterAutoscaling.autoprovisioningNodePoolDefaults.serviceAccount"}},
	{host: "container.googleapis.com", method: http.MethodPost,
		path:   regexp.MustCompile(`^/v1(beta1)?/projects/[^/]+/(locations|zones)/[^/]+/clusters/[^/:]+/nodePools$`),
		fields: []string{"nodePool.config.serviceAccount"}},
}

// testIamPermissionsPath is IAM's testIamPermissions on a service account.
var testIamPermissionsPath = regexp.MustCompile(`^/v1/projects/[^/]+/serviceAccounts/([^/:]+):testIamPermissions$`)

func (r actAs) handle(x *exchange, next func() *reply) *reply {
	if x.host == "iam.googleapis.com" && x.method == http.MethodPost {
		if m := testIamPermissionsPath.FindStringSubmatch(x.path); m != nil {
			return r.testIamPermissions(x, m[1])
		}
	}
	for _, c := range actAsChecks {
		if x.host != c.host || x.method != c.method || !c.path.MatchString(x.path) {
			continue
		}
		body := x.object()
		if c.mask != "" && !maskNames(maskOf(x, body, c.mask), c.maskFields) {
			return next()
		}
		for _, f := range c.fields {
			for _, account := range stringsAt(body, f) {
				if account == "" {
					continue
				}
				v, err := r.judge(x.caller, account)
				if err != nil {
					return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
				}
				if v != allowed {
					return googleError(r.name(), http.StatusForbidden, "PERMISSION_DENIED",
						fmt.Sprintf("Permission 'iam.serviceaccounts.actAs' denied on service account %s (or it may not exist).", account))
				}
			}
		}
		return next()
	}
	return next()
}

// testIamPermissions answers for a service account: 404 when it does not
// exist, every permission asked about except actAs, which only when the
// rule allows it.
func (r actAs) testIamPermissions(x *exchange, account string) *reply {
	var req struct {
		Permissions []string `json:"permissions"`
	}
	if err := json.Unmarshal(x.body, &req); err != nil {
		return googleError(r.name(), http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
	}
	v, err := r.judge(x.caller, account)
	if err != nil {
		return googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", err.Error())
	}
	if v == noAccount {
		return googleError(r.name(), http.StatusNotFound, "NOT_FOUND",
			fmt.Sprintf("Service account projects/-/serviceAccounts/%s does not exist.", account))
	}
	granted := []string{}
	for _, p := range req.Permissions {
		if p != actAsPermission || v == allowed {
			granted = append(granted, p)
		}
	}
	return jsonReply(r.name(), map[string]any{"permissions": granted})
}

type verdict int

const (
	allowed verdict = iota
	denied
	noAccount
)

// accountEmail matches a user-managed service account: NAME@PROJECT.iam.gserviceaccount.com.
var accountEmail = regexp.MustCompile(`^[^@/]+@([^./]+)\.iam\.gserviceaccount\.com$`)

// judge says whether caller may act as account now. account is an e-mail
// or a full name (projects/P/serviceAccounts/EMAIL).
func (r actAs) judge(caller, account string) (verdict, error) {
	email := account[strings.LastIndex(account, "/")+1:]
	m := accountEmail.FindStringSubmatch(email)
	if m == nil {
		// Google's own agents and default accounts: no project of ours
		// holds their policy.
		return denied, nil
	}
	project := m[1]
	accountPath := "/v1/projects/" + project + "/serviceAccounts/" + email
	ok, err := r.book.m.exists("iam.googleapis.com", escapePath(accountPath))
	if err != nil {
		return denied, err
	}
	if !ok {
		return noAccount, nil
	}
	now := time.Now()
	for _, p := range []policyRef{
		{host: "iam.googleapis.com", path: accountPath},
		{host: "cloudresourcemanager.googleapis.com", path: "/v1/projects/" + project},
		{host: "cloudresourcemanager.googleapis.com", path: "/v3/projects/" + project},
	} {
		policy, err := r.book.policy(p)
		if err != nil {
			return denied, err
		}
		for _, b := range bindingsOf(policy) {
			if b.member == caller && actAsRoles[b.role] && now.Sub(r.book.since(p, b.role, b.member)) >= r.propagation {
				return allowed, nil
			}
		}
	}
	return denied, nil
}

// maskOf is an update's field mask: the query parameter, else the body's.
func maskOf(x *exchange, body map[string]any, param string) string {
	if v := x.query.Get(param); v != "" {
		return v
	}
	s, _ := body[param].(string)
	return s
}

// maskNames reports whether a field mask names one of fields (or any of
// their subfields); an empty mask names everything.
func maskNames(mask string, fields []string) bool {
	if mask == "" {
		return true
	}
	for _, m := range strings.Split(mask, ",") {
		m = strings.TrimSpace(m)
		for _, f := range fields {
			if m == f || strings.HasPrefix(m, f+".") {
				return true
			}
		}
	}
	return false
}

// stringsAt returns the strings at a dotted path of nested objects; "*"
// stands for every element of a list.
func stringsAt(v any, path string) []string {
	if path == "" {
		if s, ok := v.(string); ok {
			return []string{s}
		}
		return nil
	}
	head, rest, _ := strings.Cut(path, ".")
	if head == "*" {
		list, _ := v.([]any)
		var out []string
		for _, e := range list {
			out = append(out, stringsAt(e, rest)...)
		}
		return out
	}
	m, _ := v.(map[string]any)
	if m == nil {
		return nil
	}
	return stringsAt(m[head], rest)
}
