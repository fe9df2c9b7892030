// Package gcpname derives physical resource names and checks them against
// the rules of the Google APIs that own them, so a bad name is reported with
// its configuration key before anything is sent to Google.
package gcpname

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Physical returns the name a resource gets in Google Cloud: the configured
// base, plus "-<suffix>" when the stack has a name suffix. Test stacks set a
// fresh suffix so that re-creating them never collides with names Google
// keeps reserved after deletion (Cloud Tasks queues: up to 7 days).
func Physical(base, suffix string) string {
	if suffix == "" {
		return base
	}
	return base + "-" + suffix
}

var (
	suffixRE         = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
	serviceAccountRE = regexp.MustCompile(`^[a-z][-a-z0-9]*[a-z0-9]$`)
	queueRE          = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
	pubsubRE         = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.~+%]*$`)
	regionRE         = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
	projectRE        = regexp.MustCompile(`^[a-z][-a-z0-9]{4,28}[a-z0-9]$`)
)

// Limits of the Google APIs' names.
const (
	MaxSuffix         = 8
	MinServiceAccount = 6
	MaxServiceAccount = 30
	MaxRunService     = 49
	MaxQueue          = 100
	MinPubSub         = 3
	MaxPubSub         = 255
)

// ValidateSuffix checks the stack's name suffix.
func ValidateSuffix(path *field.Path, s string) field.ErrorList {
	if s == "" || suffixRE.MatchString(s) {
		return nil
	}
	return field.ErrorList{field.Invalid(path, s, fmt.Sprintf("must be 1-%d lowercase letters or digits, or empty", MaxSuffix))}
}

// ValidateProject checks a Google Cloud project id.
func ValidateProject(path *field.Path, s string) field.ErrorList {
	if projectRE.MatchString(s) {
		return nil
	}
	return field.ErrorList{field.Invalid(path, s,
		"must be a project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen")}
}

// ValidateRegion checks a Google Cloud region name such as asia-northeast1.
func ValidateRegion(path *field.Path, s string) field.ErrorList {
	if regionRE.MatchString(s) {
		return nil
	}
	return field.ErrorList{field.Invalid(path, s, "must be a region such as asia-northeast1 or us-central1")}
}

// ValidateServiceAccountID checks a service account id (the part before @).
func ValidateServiceAccountID(path *field.Path, id string) field.ErrorList {
	if len(id) < MinServiceAccount || len(id) > MaxServiceAccount {
		return field.ErrorList{field.Invalid(path, id,
			fmt.Sprintf("service account ids are %d-%d characters (this one has %d)", MinServiceAccount, MaxServiceAccount, len(id)))}
	}
	if !serviceAccountRE.MatchString(id) {
		return field.ErrorList{field.Invalid(path, id,
			"service account ids are lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen")}
	}
	return nil
}

// ValidateRunService checks a Cloud Run service name.
func ValidateRunService(path *field.Path, name string) field.ErrorList {
	var errs field.ErrorList
	if len(name) > MaxRunService {
		errs = append(errs, field.TooLong(path, name, MaxRunService))
	}
	for _, msg := range validation.IsDNS1035Label(name) {
		errs = append(errs, field.Invalid(path, name, "Cloud Run service names: "+msg))
	}
	return errs
}

// IsQueueID reports whether id is a Cloud Tasks queue id
// (google/cloud/tasks/v2/queue.proto): letters, digits and hyphens, at most
// MaxQueue characters.
func IsQueueID(id string) bool {
	return id != "" && len(id) <= MaxQueue && queueRE.MatchString(id)
}

// IsPubSubID reports whether id is a Pub/Sub topic or subscription id:
// MinPubSub to MaxPubSub characters, a letter first, then letters, digits
// and - _ . ~ + %, and not starting with "goog".
func IsPubSubID(id string) bool {
	return len(id) >= MinPubSub && len(id) <= MaxPubSub && pubsubRE.MatchString(id) && !strings.HasPrefix(strings.ToLower(id), "goog")
}

// ValidateQueue checks a Cloud Tasks queue id.
func ValidateQueue(path *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "a queue name")}
	}
	var errs field.ErrorList
	if len(name) > MaxQueue {
		errs = append(errs, field.TooLong(path, name, MaxQueue))
	}
	if !queueRE.MatchString(name) {
		errs = append(errs, field.Invalid(path, name, "queue ids contain only letters, digits and hyphens"))
	}
	return errs
}

// ValidatePubSub checks a Pub/Sub topic or subscription id.
func ValidatePubSub(path *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "a name")}
	}
	var errs field.ErrorList
	if len(name) < MinPubSub || len(name) > MaxPubSub {
		errs = append(errs, field.Invalid(path, name, fmt.Sprintf("Pub/Sub names are %d-%d characters", MinPubSub, MaxPubSub)))
	}
	if !pubsubRE.MatchString(name) {
		errs = append(errs, field.Invalid(path, name, "Pub/Sub names start with a letter and contain only letters, digits and - _ . ~ + %"))
	}
	if strings.HasPrefix(strings.ToLower(name), "goog") {
		errs = append(errs, field.Invalid(path, name, "Pub/Sub names must not start with \"goog\""))
	}
	return errs
}

// ValidateLabels checks Google Cloud resource labels.
func ValidateLabels(path *field.Path, labels map[string]string) field.ErrorList {
	var errs field.ErrorList
	if len(labels) > 64 {
		errs = append(errs, field.TooMany(path, len(labels), 64))
	}
	keyRE := regexp.MustCompile(`^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
	valRE := regexp.MustCompile(`^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$`)
	for k, v := range labels {
		if !keyRE.MatchString(k) {
			errs = append(errs, field.Invalid(path.Key(k), k, "label keys start with a lowercase letter and have up to 63 lowercase letters, digits, _ or -"))
		}
		if !valRE.MatchString(v) {
			errs = append(errs, field.Invalid(path.Key(k), v, "label values have up to 63 lowercase letters, digits, _ or -"))
		}
	}
	return errs
}
