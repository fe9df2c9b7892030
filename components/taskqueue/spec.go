package taskqueue

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// Cloud Tasks limits (google/cloud/tasks/v2/queue.proto).
const (
	MaxDispatchesPerSecond  = 500
	MaxConcurrentDispatches = 5000
	UnlimitedAttempts       = -1
)

// Spec is the configuration of one Cloud Tasks queue.
type Spec struct {
	Name                 string      `json:"name" doc:"queue id (the stack's name suffix is appended)"`
	Location             string      `json:"location" doc:"queue location (default: the stack region)"`
	RateLimits           RateLimits  `json:"rateLimits" doc:"dispatch rate limits"`
	Retry                RetryConfig `json:"retry" doc:"retry configuration"`
	LoggingSamplingRatio float64     `json:"loggingSamplingRatio" doc:"share of task operations logged, 0-1"`
	Enqueuers            []string    `json:"enqueuers" doc:"extra IAM members that may enqueue tasks (enqueuer on the queue, actAs on the invoker account)"`
	InvokerAccountID     string      `json:"invokerAccountId" doc:"invoker service account id (default <name>-invoker)"`
	EnqueuerAccountID    string      `json:"enqueuerAccountId" doc:"enqueuer service account id (default <name>-enqueuer)"`
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names Names `json:"-"`
}

// Names are where the queue lives and its physical names in Google Cloud.
type Names struct {
	// Location is Spec.Location, or the stack's region when it is empty.
	Location        string
	Queue           string
	InvokerAccount  string
	EnqueuerAccount string
}

// RateLimits bound how fast the queue dispatches.
type RateLimits struct {
	MaxDispatchesPerSecond float64 `json:"maxDispatchesPerSecond" doc:"dispatches per second, 0 < x <= 500"`
	// int32 in Cloud Tasks' API (RateLimits.maxConcurrentDispatches, cloudtaskspb.RateLimits).
	MaxConcurrentDispatches int `json:"maxConcurrentDispatches" api:"int32" doc:"tasks in flight, 1-5000"`
}

// RetryConfig is Cloud Tasks' retry configuration.
type RetryConfig struct {
	// int32 in Cloud Tasks' API, as maxDoublings (RetryConfig, cloudtaskspb.RetryConfig).
	MaxAttempts      int               `json:"maxAttempts" api:"int32" doc:"attempts including the first, >= 1, or -1 for unlimited"`
	MinBackoff       duration.Duration `json:"minBackoff" doc:"first retry interval, >= 0s, whole seconds"`
	MaxBackoff       duration.Duration `json:"maxBackoff" doc:"retry interval cap, >= minBackoff, whole seconds"`
	MaxDoublings     int               `json:"maxDoublings" api:"int32" doc:"times the interval doubles before growing linearly, >= 0"`
	MaxRetryDuration duration.Duration `json:"maxRetryDuration" doc:"time limit for retrying, whole seconds, 0s = unlimited"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// DefaultSpec returns the defaults: Cloud Tasks' own, made explicit, except
// minBackoff: Google documents a 0.1 s default but truncates backoffs to
// whole seconds, so the explicit default is the smallest pause that is kept.
func DefaultSpec() Spec {
	return Spec{
		RateLimits: RateLimits{MaxDispatchesPerSecond: 500, MaxConcurrentDispatches: 1000},
		Retry: RetryConfig{
			MaxAttempts:      100,
			MinBackoff:       duration.Of(time.Second),
			MaxBackoff:       duration.Of(time.Hour),
			MaxDoublings:     16,
			MaxRetryDuration: duration.Of(0),
		},
		LoggingSamplingRatio: 1.0,
	}
}

// UnmarshalJSON decodes onto the defaults.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
}

// InvokerID is the invoker service account id before the stack suffix.
func (s Spec) InvokerID() string {
	if s.InvokerAccountID != "" {
		return s.InvokerAccountID
	}
	return strings.ToLower(s.Name) + "-invoker"
}

// EnqueuerID is the enqueuer service account id before the stack suffix.
func (s Spec) EnqueuerID() string {
	if s.EnqueuerAccountID != "" {
		return s.EnqueuerAccountID
	}
	return strings.ToLower(s.Name) + "-enqueuer"
}

// Validate checks the resolved queue against Cloud Tasks' limits.
func (s Spec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := s.Names
	errs = append(errs, gcpname.ValidateQueue(path.Child("name"), names.Queue)...)
	if s.Location != "" {
		errs = append(errs, gcpname.ValidateRegion(path.Child("location"), s.Location)...)
	}
	if s.Name != "" {
		errs = append(errs, gcpname.ValidateServiceAccountID(path.Child("invokerAccountId"), names.InvokerAccount)...)
		errs = append(errs, gcpname.ValidateServiceAccountID(path.Child("enqueuerAccountId"), names.EnqueuerAccount)...)
	}
	rl := path.Child("rateLimits")
	if s.RateLimits.MaxDispatchesPerSecond <= 0 || s.RateLimits.MaxDispatchesPerSecond > MaxDispatchesPerSecond {
		errs = append(errs, field.Invalid(rl.Child("maxDispatchesPerSecond"), s.RateLimits.MaxDispatchesPerSecond,
			fmt.Sprintf("must be > 0 and <= %d", MaxDispatchesPerSecond)))
	}
	if s.RateLimits.MaxConcurrentDispatches < 1 || s.RateLimits.MaxConcurrentDispatches > MaxConcurrentDispatches {
		errs = append(errs, field.Invalid(rl.Child("maxConcurrentDispatches"), s.RateLimits.MaxConcurrentDispatches,
			fmt.Sprintf("must be between 1 and %d", MaxConcurrentDispatches)))
	}
	r := path.Child("retry")
	if s.Retry.MaxAttempts < UnlimitedAttempts || s.Retry.MaxAttempts == 0 {
		errs = append(errs, field.Invalid(r.Child("maxAttempts"), s.Retry.MaxAttempts, "must be >= 1, or -1 for unlimited"))
	}
	if s.Retry.MinBackoff.Duration < 0 {
		errs = append(errs, field.Invalid(r.Child("minBackoff"), s.Retry.MinBackoff.Written(), "must be >= 0s"))
	}
	if s.Retry.MaxBackoff.Duration < 0 {
		errs = append(errs, field.Invalid(r.Child("maxBackoff"), s.Retry.MaxBackoff.Written(), "must be >= 0s"))
	} else if !s.Retry.Unread.Any("minBackoff", "maxBackoff") && s.Retry.MaxBackoff.Duration < s.Retry.MinBackoff.Duration {
		errs = append(errs, field.Invalid(r.Child("maxBackoff"), s.Retry.MaxBackoff.Written(),
			fmt.Sprintf("must be >= minBackoff (%s)", s.Retry.MinBackoff.Written())))
	}
	// Cloud Tasks truncates these to whole seconds: a fraction would be
	// dropped without a word.
	for _, d := range []struct {
		key   string
		value duration.Duration
	}{{"minBackoff", s.Retry.MinBackoff}, {"maxBackoff", s.Retry.MaxBackoff}, {"maxRetryDuration", s.Retry.MaxRetryDuration}} {
		if d.value.Duration > 0 && d.value.Duration%time.Second != 0 {
			errs = append(errs, field.Invalid(r.Child(d.key), d.value.Written(), "must be whole seconds (Cloud Tasks truncates the rest)"))
		}
	}
	if s.Retry.MaxDoublings < 0 {
		errs = append(errs, field.Invalid(r.Child("maxDoublings"), s.Retry.MaxDoublings, "must be >= 0"))
	}
	if s.Retry.MaxRetryDuration.Duration < 0 {
		errs = append(errs, field.Invalid(r.Child("maxRetryDuration"), s.Retry.MaxRetryDuration.Written(), "must be >= 0s (0s means unlimited)"))
	}
	if s.LoggingSamplingRatio < 0 || s.LoggingSamplingRatio > 1 {
		errs = append(errs, field.Invalid(path.Child("loggingSamplingRatio"), s.LoggingSamplingRatio, "must be between 0 and 1"))
	}
	errs = append(errs, gcpiam.ValidateMembers(path.Child("enqueuers"), s.Enqueuers)...)
	return errs
}
