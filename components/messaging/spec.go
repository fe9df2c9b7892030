package messaging

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

// Pub/Sub limits (google/pubsub/v1/pubsub.proto).
const (
	MinAckDeadline         = 10 * time.Second
	MaxAckDeadline         = 600 * time.Second
	MinRetention           = 10 * time.Minute
	MaxRetention           = 31 * 24 * time.Hour
	MinDeliveryAttempts    = 5
	MaxDeliveryAttempts    = 100
	MaxBackoff             = 600 * time.Second
	MaxFilterBytes         = 256
	DeadLetterSuffix       = "-dead-letter"
	defaultRetention       = 7 * 24 * time.Hour
	defaultAckDeadline     = 60 * time.Second
	defaultDeliveryAttempt = 5
)

// TopicSpec is the configuration of one topic and its subscriptions.
type TopicSpec struct {
	Name             string             `json:"name" doc:"topic id (the stack's name suffix is appended)"`
	MessageRetention duration.Duration  `json:"messageRetention" doc:"topic retention for replay, 10m-31d (unset: subscriptions decide)"`
	Publishers       []string           `json:"publishers" doc:"IAM members granted pubsub.publisher on this topic"`
	Subscriptions    []SubscriptionSpec `json:"subscriptions" doc:"the topic's worker subscriptions"`
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names TopicNames `json:"-"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// TopicNames are a topic's physical names in Google Cloud; each
// subscription has its own.
type TopicNames struct {
	Topic string
}

// SubscriptionSpec is the configuration of one worker subscription.
type SubscriptionSpec struct {
	Name             string            `json:"name" doc:"subscription id (the stack's name suffix is appended)"`
	AckDeadline      duration.Duration `json:"ackDeadline" doc:"acknowledgement deadline, 10s-600s (push: the request timeout)"`
	MessageRetention duration.Duration `json:"messageRetention" doc:"how long unacked messages are kept, 10m-31d"`
	Retry            *RetryPolicy      `json:"retry" doc:"exponential redelivery backoff; omit for immediate redelivery"`
	ExactlyOnce      bool              `json:"exactlyOnce" doc:"exactly-once delivery (pull subscriptions only)"`
	Ordering         bool              `json:"ordering" doc:"deliver messages with the same ordering key in order"`
	Filter           string            `json:"filter" doc:"attribute filter, up to 256 bytes (changing it replaces the subscription)"`
	DeadLetter       DeadLetterSpec    `json:"deadLetter" doc:"dead-lettering (always on)"`
	Push             *PushSpec         `json:"push" doc:"push to the Cloud Run worker with an OIDC token; omit for pull"`
	Subscribers      []string          `json:"subscribers" doc:"IAM members granted pubsub.subscriber on this subscription"`
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names SubscriptionNames `json:"-"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// SubscriptionNames are a subscription's physical names in Google Cloud.
type SubscriptionNames struct {
	Subscription string
	// DeadLetter names both the dead-letter topic and its subscription.
	DeadLetter string
}

// RetryPolicy is exponential redelivery backoff.
type RetryPolicy struct {
	MinimumBackoff duration.Duration `json:"minimumBackoff" doc:"0s-600s"`
	MaximumBackoff duration.Duration `json:"maximumBackoff" doc:"0s-600s, >= minimumBackoff"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// DeadLetterSpec configures the dead-letter topic and its subscription.
type DeadLetterSpec struct {
	// int32 in Pub/Sub's API (DeadLetterPolicy.maxDeliveryAttempts, pubsubpb.DeadLetterPolicy).
	MaxDeliveryAttempts int               `json:"maxDeliveryAttempts" api:"int32" doc:"delivery attempts before a message is dead-lettered, 5-100"`
	MessageRetention    duration.Duration `json:"messageRetention" doc:"how long dead letters are kept for inspection and replay, 10m-31d"`
}

// PushSpec sends messages to the worker instead of waiting for pulls.
type PushSpec struct {
	Path string `json:"path" doc:"path on the worker URL, starting with /"`
}

// DefaultSubscription returns a subscription's defaults.
func DefaultSubscription() SubscriptionSpec {
	return SubscriptionSpec{
		AckDeadline:      duration.Of(defaultAckDeadline),
		MessageRetention: duration.Of(defaultRetention),
		DeadLetter: DeadLetterSpec{
			MaxDeliveryAttempts: defaultDeliveryAttempt,
			MessageRetention:    duration.Of(defaultRetention),
		},
	}
}

// UnmarshalJSON decodes onto the defaults.
func (s *SubscriptionSpec) UnmarshalJSON(b []byte) error {
	type plain SubscriptionSpec
	return strictconfig.DecodeOver(b, s, DefaultSubscription(), func(s *SubscriptionSpec) *plain { return (*plain)(s) })
}

// DeadLetterName is the id of a subscription's dead-letter topic and of the
// subscription on it.
func DeadLetterName(subscription string) string { return subscription + DeadLetterSuffix }

// Validate checks the resolved topic and its subscriptions against
// Pub/Sub's limits.
func (t TopicSpec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, gcpname.ValidatePubSub(path.Child("name"), t.Names.Topic)...)
	if t.MessageRetention.Set {
		errs = append(errs, validateRetention(path.Child("messageRetention"), t.MessageRetention)...)
	}
	errs = append(errs, gcpiam.ValidateMembers(path.Child("publishers"), t.Publishers)...)
	if len(t.Subscriptions) == 0 && !t.Unread["subscriptions"] {
		errs = append(errs, field.Required(path.Child("subscriptions"), "at least one subscription: messages published to a topic without subscriptions are lost"))
	}
	for i, s := range t.Subscriptions {
		errs = append(errs, s.Validate(path.Child("subscriptions").Index(i))...)
	}
	return errs
}

// Validate checks one resolved subscription.
func (s SubscriptionSpec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := s.Names
	if nameErrs := gcpname.ValidatePubSub(path.Child("name"), names.Subscription); len(nameErrs) > 0 {
		errs = append(errs, nameErrs...)
	} else {
		// The dead-letter topic and subscription take the longer name.
		errs = append(errs, gcpname.ValidatePubSub(path.Child("name"), names.DeadLetter)...)
	}
	if d := s.AckDeadline.Duration; d < MinAckDeadline || d > MaxAckDeadline || d%time.Second != 0 {
		errs = append(errs, field.Invalid(path.Child("ackDeadline"), s.AckDeadline.Written(), "must be whole seconds between 10s and 600s"))
	}
	errs = append(errs, validateRetention(path.Child("messageRetention"), s.MessageRetention)...)
	if s.Retry != nil {
		r := path.Child("retry")
		for _, b := range []struct {
			name string
			d    duration.Duration
		}{{"minimumBackoff", s.Retry.MinimumBackoff}, {"maximumBackoff", s.Retry.MaximumBackoff}} {
			if !b.d.Set {
				errs = append(errs, field.Required(r.Child(b.name), "a backoff between 0s and 600s"))
			} else if b.d.Duration < 0 || b.d.Duration > MaxBackoff {
				errs = append(errs, field.Invalid(r.Child(b.name), b.d.Written(), "must be between 0s and 600s"))
			}
		}
		if !s.Retry.Unread.Any("minimumBackoff", "maximumBackoff") && s.Retry.MinimumBackoff.Duration > s.Retry.MaximumBackoff.Duration {
			errs = append(errs, field.Invalid(r.Child("maximumBackoff"), s.Retry.MaximumBackoff.Written(),
				fmt.Sprintf("must be >= minimumBackoff (%s)", s.Retry.MinimumBackoff.Written())))
		}
	}
	if s.ExactlyOnce && s.Push != nil && !s.Unread.Any("exactlyOnce", "push") {
		errs = append(errs, field.Invalid(path.Child("exactlyOnce"), true,
			"exactly-once delivery is only available on pull subscriptions; remove push or exactlyOnce"))
	}
	if len(s.Filter) > MaxFilterBytes {
		errs = append(errs, field.TooLong(path.Child("filter"), s.Filter, MaxFilterBytes))
	} else {
		errs = append(errs, ValidateFilter(path.Child("filter"), s.Filter)...)
	}
	dl := path.Child("deadLetter")
	if a := s.DeadLetter.MaxDeliveryAttempts; a < MinDeliveryAttempts || a > MaxDeliveryAttempts {
		errs = append(errs, field.Invalid(dl.Child("maxDeliveryAttempts"), a, "must be between 5 and 100"))
	}
	errs = append(errs, validateRetention(dl.Child("messageRetention"), s.DeadLetter.MessageRetention)...)
	if s.Push != nil && !strings.HasPrefix(s.Push.Path, "/") {
		errs = append(errs, field.Invalid(path.Child("push", "path"), s.Push.Path, "must start with /"))
	}
	errs = append(errs, gcpiam.ValidateMembers(path.Child("subscribers"), s.Subscribers)...)
	return errs
}

func validateRetention(path *field.Path, d duration.Duration) field.ErrorList {
	if d.Duration < MinRetention || d.Duration > MaxRetention {
		return field.ErrorList{field.Invalid(path, d.Written(), "must be between 10m and 31d")}
	}
	return nil
}
