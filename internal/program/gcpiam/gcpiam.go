// Package gcpiam checks IAM member strings and names the predefined roles
// asyncjobs grants. Every grant the stack makes is an additive *IamMember on
// one resource; members that would make a resource public are refused.
package gcpiam

import (
	"fmt"
	"net/mail"
	"reflect"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Predefined roles granted by asyncjobs, each on a single resource.
const (
	RoleRunInvoker         = "roles/run.invoker"
	RoleTasksEnqueuer      = "roles/cloudtasks.enqueuer"
	RoleServiceAccountUser = "roles/iam.serviceAccountUser"
	RolePubSubPublisher    = "roles/pubsub.publisher"
	RolePubSubSubscriber   = "roles/pubsub.subscriber"
)

// Public principals are never accepted: a private worker and its queues and
// topics must not be reachable by anyone on the internet.
var public = map[string]bool{"allusers": true, "allauthenticatedusers": true}

var emailKinds = map[string]bool{"user": true, "serviceAccount": true, "group": true}

// ValidateMember checks one IAM member ("user:a@b.c", "serviceAccount:...",
// "group:...", "domain:example.com", "principal://...", "principalSet://...").
func ValidateMember(path *field.Path, member string) field.ErrorList {
	var errs field.ErrorList
	lower := strings.ToLower(strings.TrimSpace(member))
	if public[lower] {
		return append(errs, field.Forbidden(path,
			fmt.Sprintf("%q would make the resource public; asyncjobs never grants access to allUsers or allAuthenticatedUsers", member)))
	}
	if strings.HasPrefix(lower, "principal://") || strings.HasPrefix(lower, "principalset://") {
		if strings.Contains(member, " ") {
			return append(errs, field.Invalid(path, member, "must not contain spaces"))
		}
		return nil
	}
	kind, value, ok := strings.Cut(member, ":")
	if !ok || value == "" {
		return append(errs, field.Invalid(path, member,
			"must be <kind>:<id> with kind user, serviceAccount, group or domain, or a principal:// or principalSet:// identifier"))
	}
	switch {
	case emailKinds[kind]:
		addr, err := mail.ParseAddress(value)
		if err != nil || addr.Address != value || !strings.Contains(value[strings.LastIndex(value, "@")+1:], ".") {
			return append(errs, field.Invalid(path, member, fmt.Sprintf("%s members need an e-mail address", kind)))
		}
		if kind == "serviceAccount" && IsDefaultServiceAccount(value) {
			errs = append(errs, field.Forbidden(path, fmt.Sprintf(
				"%q is a default service account (Compute Engine or App Engine), which holds broad project roles; use a dedicated service account", value)))
		}
	case kind == "domain":
		if !strings.Contains(value, ".") || strings.ContainsAny(value, "@ /") {
			errs = append(errs, field.Invalid(path, member, "domain members need a DNS domain such as example.com"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("kind"), kind, []string{"user", "serviceAccount", "group", "domain", "principal://", "principalSet://"}))
	}
	return errs
}

// ValidateMembers checks a list of members and refuses duplicates.
func ValidateMembers(path *field.Path, members []string) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, m := range members {
		errs = append(errs, ValidateMember(path.Index(i), m)...)
		if seen[m] {
			errs = append(errs, field.Duplicate(path.Index(i), m))
		}
		seen[m] = true
	}
	return errs
}

// IsDefaultServiceAccount reports whether email is the Compute Engine or
// App Engine default service account of some project.
func IsDefaultServiceAccount(email string) bool {
	return strings.HasSuffix(email, "-compute@developer.gserviceaccount.com") ||
		strings.HasSuffix(email, "@appspot.gserviceaccount.com")
}

// Targets lists the resources a grant is re-created with (the one it sits
// on and the stack's account it names), leaving out absent ones: a grant
// to an outside member has no account of the stack's to follow.
func Targets(rs ...pulumi.Resource) []pulumi.Resource {
	out := make([]pulumi.Resource, 0, len(rs))
	for _, r := range rs {
		if r == nil {
			continue
		}
		if v := reflect.ValueOf(r); v.Kind() == reflect.Pointer && v.IsNil() {
			continue
		}
		out = append(out, r)
	}
	return out
}
