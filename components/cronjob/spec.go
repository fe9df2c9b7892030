package cronjob

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked the same way on every machine

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/workload"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// MaxName is the longest CronJob name: the controller appends 11 characters
// to name its Jobs, which are limited to 63.
const MaxName = 52

// MaxIndexed is the most completions, and pods at once, an Indexed Job may
// have: Kubernetes refuses more (batch/v1 Job validation, 10^5).
const MaxIndexed = 100000

// Values Kubernetes accepts.
var (
	concurrencyPolicies = []string{"Allow", "Forbid", "Replace"}
	restartPolicies     = []string{"OnFailure", "Never"}
	completionModes     = []string{"NonIndexed", "Indexed"}
)

// Spec is one CronJob's configuration.
type Spec struct {
	Name                       string             `json:"name" doc:"CronJob name, DNS-1123 subdomain of at most 52 characters"`
	Schedule                   string             `json:"schedule" doc:"standard 5-field cron schedule (no TZ= prefix; use timeZone)"`
	TimeZone                   string             `json:"timeZone" doc:"IANA time zone, e.g. Asia/Tokyo (default: the controller's)"`
	ConcurrencyPolicy          string             `json:"concurrencyPolicy" doc:"Allow, Forbid or Replace"`
	StartingDeadlineSeconds    int64              `json:"startingDeadlineSeconds" doc:"seconds a missed run may still start, >= 10"`
	ActiveDeadlineSeconds      int64              `json:"activeDeadlineSeconds" doc:"seconds a run may take before it is killed, > 0"`
	BackoffLimit               int32              `json:"backoffLimit" doc:"retries of a failed run, >= 0"`
	Parallelism                int32              `json:"parallelism" doc:"pods running at once, >= 1 and <= completions when set"`
	Completions                int32              `json:"completions" doc:"successful pods needed, 0 = unset (required for Indexed)"`
	CompletionMode             string             `json:"completionMode" doc:"NonIndexed or Indexed (each pod gets JOB_COMPLETION_INDEX)"`
	RestartPolicy              string             `json:"restartPolicy" doc:"OnFailure or Never"`
	SuccessfulJobsHistoryLimit int32              `json:"successfulJobsHistoryLimit" doc:">= 0"`
	FailedJobsHistoryLimit     int32              `json:"failedJobsHistoryLimit" doc:">= 0"`
	Suspend                    bool               `json:"suspend" doc:"pause scheduling"`
	Container                  workload.Container `json:"container" doc:"the job container"`
	GoogleServiceAccount       *GoogleAccess      `json:"googleServiceAccount" doc:"Workload Identity to a dedicated Google service account; omit for none"`
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names Names `json:"-"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// Names are the CronJob's physical names in Google Cloud.
type Names struct {
	// Account is empty when the job has no Google service account.
	Account string
}

// GoogleAccess is a CronJob's Google identity and its resource-level roles.
type GoogleAccess struct {
	AccountID string  `json:"accountId" doc:"Google service account id (default <name>-job)"`
	Grants    []Grant `json:"grants" doc:"resource-level roles for that account"`
}

// Grant is a role on one Pub/Sub topic or subscription of the stack.
type Grant struct {
	Role         string `json:"role" doc:"roles/pubsub.publisher on a topic or roles/pubsub.subscriber on a subscription"`
	Topic        string `json:"topic" doc:"topic name of asyncjobs:topics"`
	Subscription string `json:"subscription" doc:"<topic>/<subscription> of asyncjobs:topics"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// DefaultSpec returns the defaults: the project's safety settings.
func DefaultSpec() Spec {
	return Spec{
		ConcurrencyPolicy:          "Forbid",
		StartingDeadlineSeconds:    300,
		ActiveDeadlineSeconds:      3600,
		BackoffLimit:               2,
		Parallelism:                1,
		CompletionMode:             "NonIndexed",
		RestartPolicy:              "OnFailure",
		SuccessfulJobsHistoryLimit: 3,
		FailedJobsHistoryLimit:     3,
		Container:                  workload.DefaultContainer(),
	}
}

// UnmarshalJSON decodes onto the defaults.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
}

// AccountID is the Google service account id before the stack suffix.
func (g GoogleAccess) accountID(job string) string {
	if g.AccountID != "" {
		return g.AccountID
	}
	return job + "-job"
}

// AccountID of the job's Google identity, or "" when it has none.
func (s Spec) AccountID() string {
	if s.GoogleServiceAccount == nil {
		return ""
	}
	return s.GoogleServiceAccount.accountID(s.Name)
}

// Validate checks everything the API server would reject, and the safety
// settings the project requires.
func (s Spec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(s.Name) {
		errs = append(errs, field.Invalid(path.Child("name"), s.Name, msg))
	}
	if len(s.Name) > MaxName {
		errs = append(errs, field.TooLong(path.Child("name"), s.Name, MaxName))
	}
	errs = append(errs, validateSchedule(path.Child("schedule"), s.Schedule)...)
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "Local" {
			errs = append(errs, field.Invalid(path.Child("timeZone"), s.TimeZone, "must be an IANA time zone such as Asia/Tokyo or Etc/UTC"))
		}
	}
	errs = append(errs, oneOf(path.Child("concurrencyPolicy"), s.ConcurrencyPolicy, concurrencyPolicies)...)
	errs = append(errs, oneOf(path.Child("restartPolicy"), s.RestartPolicy, restartPolicies)...)
	errs = append(errs, oneOf(path.Child("completionMode"), s.CompletionMode, completionModes)...)
	if s.StartingDeadlineSeconds < 10 {
		errs = append(errs, field.Invalid(path.Child("startingDeadlineSeconds"), s.StartingDeadlineSeconds,
			"must be >= 10: the controller checks schedules every 10 seconds, a shorter deadline may never start"))
	}
	if s.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), s.ActiveDeadlineSeconds, "must be > 0 so a stuck run is stopped"))
	}
	if s.BackoffLimit < 0 {
		errs = append(errs, field.Invalid(path.Child("backoffLimit"), s.BackoffLimit, "must be >= 0"))
	}
	if s.Parallelism < 1 {
		errs = append(errs, field.Invalid(path.Child("parallelism"), s.Parallelism, "must be >= 1"))
	}
	if s.Completions < 0 {
		errs = append(errs, field.Invalid(path.Child("completions"), s.Completions, "must be >= 0 (0 leaves it unset)"))
	}
	if s.CompletionMode == "Indexed" && s.Completions == 0 && !s.Unread["completionMode"] {
		errs = append(errs, field.Required(path.Child("completions"), "when completionMode is Indexed"))
	}
	if s.CompletionMode == "Indexed" {
		// Kubernetes' Job validation caps both for Indexed Jobs.
		if s.Completions > MaxIndexed {
			errs = append(errs, field.Invalid(path.Child("completions"), s.Completions,
				fmt.Sprintf("must be <= %d when completionMode is Indexed (Kubernetes' limit)", MaxIndexed)))
		}
		if s.Parallelism > MaxIndexed {
			errs = append(errs, field.Invalid(path.Child("parallelism"), s.Parallelism,
				fmt.Sprintf("must be <= %d when completionMode is Indexed (Kubernetes' limit)", MaxIndexed)))
		}
	}
	if s.Completions > 0 && s.Parallelism > s.Completions && !s.Unread["completions"] {
		errs = append(errs, field.Invalid(path.Child("parallelism"), s.Parallelism, fmt.Sprintf("must be <= completions (%d)", s.Completions)))
	}
	if s.SuccessfulJobsHistoryLimit < 0 {
		errs = append(errs, field.Invalid(path.Child("successfulJobsHistoryLimit"), s.SuccessfulJobsHistoryLimit, "must be >= 0"))
	}
	if s.FailedJobsHistoryLimit < 0 {
		errs = append(errs, field.Invalid(path.Child("failedJobsHistoryLimit"), s.FailedJobsHistoryLimit, "must be >= 0"))
	}
	errs = append(errs, s.Container.Validate(path.Child("container"))...)
	if g := s.GoogleServiceAccount; g != nil {
		gp := path.Child("googleServiceAccount")
		if g.AccountID != "" || !s.Unread["name"] {
			// A derived id is checked once the name it derives from was read.
			errs = append(errs, gcpname.ValidateServiceAccountID(gp.Child("accountId"), s.Names.Account)...)
		}
		for i, grant := range g.Grants {
			p := gp.Child("grants").Index(i)
			switch {
			case grant.Unread.Any("role", "topic", "subscription"):
				// Its decode error says what is wrong.
			case grant.Role == gcpiam.RolePubSubPublisher && grant.Topic != "" && grant.Subscription == "":
			case grant.Role == gcpiam.RolePubSubSubscriber && grant.Subscription != "" && grant.Topic == "":
			default:
				errs = append(errs, field.Invalid(p, fmt.Sprintf("%s on topic %q subscription %q", grant.Role, grant.Topic, grant.Subscription),
					"grants are roles/pubsub.publisher on a topic, or roles/pubsub.subscriber on a subscription, of this stack"))
			}
		}
	}
	return errs
}

func validateSchedule(path *field.Path, schedule string) field.ErrorList {
	if schedule == "" {
		return field.ErrorList{field.Required(path, "a cron schedule such as \"0 3 * * *\"")}
	}
	if strings.Contains(schedule, "TZ=") {
		return field.ErrorList{field.Invalid(path, schedule, "TZ= and CRON_TZ= are not allowed in the schedule; set timeZone")}
	}
	if _, err := cron.ParseStandard(schedule); err != nil {
		return field.ErrorList{field.Invalid(path, schedule, "must be a standard cron schedule: "+err.Error())}
	}
	return nil
}

func oneOf(path *field.Path, v string, allowed []string) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, v, allowed)}
}
