package monitoring

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/internal/program/duration"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// Cloud Monitoring limits (google/monitoring/v3/alert.proto, common.proto;
// monitoring/alerts/metric-absence).
const (
	// Granularity is the unit of every condition duration and alignment period.
	Granularity = time.Minute
	// MinAlignment and MaxAlignment bound an alerting alignment period.
	MinAlignment = time.Minute
	MaxAlignment = 25 * time.Hour
	// MinAbsence and MaxAbsence bound a metric-absence condition's duration.
	MinAbsence = 2 * time.Minute
	MaxAbsence = 23*time.Hour + 30*time.Minute
	// MaxDuration is our bound on how long a threshold must be crossed: a
	// longer wait delays every alert by more than a day.
	MaxDuration = 24 * time.Hour
	// MaxMessageAge is the longest Pub/Sub keeps a message (its longest
	// retention, 31 days), so an older oldest-unacked age can never be reached.
	MaxMessageAge = messaging.MaxRetention
	// MinDerivedAge is the least oldest-unacked age derived for a subscription.
	MinDerivedAge = 10 * time.Minute
	// MinLogNotificationPeriod and MinAutoClose are the least notification
	// rate limit and incident auto-close a log-match policy takes
	// (https://cloud.google.com/logging/docs/alerting/log-based-alerts).
	MinLogNotificationPeriod = 5 * time.Minute
	MinAutoClose             = 30 * time.Minute
)

// Spec is the stack's alerting configuration.
type Spec struct {
	Enabled              bool       `json:"enabled" doc:"declare the alert policies and notification channels (the dashboard is declared either way)"`
	NotificationChannels []string   `json:"notificationChannels" doc:"existing notification channels every alert notifies, projects/<project>/notificationChannels/<id>"` //nolint:lll // a struct tag cannot be wrapped
	Emails               []string   `json:"emails" doc:"e-mail addresses; each gets an e-mail notification channel that every alert notifies"`
	Thresholds           Thresholds `json:"thresholds" doc:"when the alerts fire"`
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names Names `json:"-"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// Names are the stack's name, which display names and the commands in the
// policies' documentation carry, and the physical names of the stack's
// log-based metrics (the project's CompletionsMetric, which stacks share,
// has none of the stack's suffix).
type Names struct {
	Stack               string
	CronJobFailedMetric string
	CronJobMissedMetric string
}

// Thresholds say when each alert fires. They apply to every resource of
// their kind.
type Thresholds struct {
	OldestUnackedAge        duration.Duration `json:"oldestUnackedAge" doc:"oldest unacknowledged message on a worker subscription older than this, 1s-31d (unset: per subscription, deliveryAttempts x (ackDeadline + maximumBackoff), at least 10m)"` //nolint:lll // a struct tag cannot be wrapped
	UndeliveredMessages     int64             `json:"undeliveredMessages" doc:"more messages than this waiting on a worker subscription, >= 1"`
	QueueDepth              int64             `json:"queueDepth" doc:"more tasks than this in a queue, >= 1"`
	FailedAttemptsPerSecond float64           `json:"failedAttemptsPerSecond" doc:"task attempts per second answered with other than 2xx, per queue, above this; >= 0 (0: any)"` //nolint:lll // a struct tag cannot be wrapped
	Worker5xxPerSecond      float64           `json:"worker5xxPerSecond" doc:"worker responses per second with a 5xx status above this; >= 0 (0: any)"`
	Window                  duration.Duration `json:"window" doc:"alignment period every value is computed over, 60s-25h in whole minutes"`
	Duration                duration.Duration `json:"duration" doc:"how long a threshold must be crossed before an alert opens, 0s-24h in whole minutes (0s: at once); dead letters and CronJob failures alert at once"` //nolint:lll // a struct tag cannot be wrapped
}

// DefaultSpec returns the defaults.
func DefaultSpec() Spec {
	return Spec{
		Enabled: true,
		Thresholds: Thresholds{
			UndeliveredMessages:     1000,
			QueueDepth:              1000,
			FailedAttemptsPerSecond: 0.1,
			Worker5xxPerSecond:      0.1,
			Window:                  duration.Of(5 * time.Minute),
			Duration:                duration.Of(5 * time.Minute),
		},
	}
}

// UnmarshalJSON decodes onto the defaults.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
}

// HasChannels reports whether the alerts notify anyone.
func (s Spec) HasChannels() bool { return len(s.NotificationChannels) > 0 || len(s.Emails) > 0 }

var channelRE = regexp.MustCompile(`^projects/([a-z][-a-z0-9]{4,28}[a-z0-9]|[0-9]+)/notificationChannels/[0-9]+$`)

// Validate checks the alerting configuration against the Cloud Monitoring
// API's rules, so that nothing is left for the API to refuse.
func (s Spec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, c := range s.NotificationChannels {
		p := path.Child("notificationChannels").Index(i)
		switch {
		case !channelRE.MatchString(c):
			errs = append(errs, field.Invalid(p, c, "must be a notification channel name, projects/<project>/notificationChannels/<numeric id>"))
		case seen[c]:
			errs = append(errs, field.Duplicate(p, c))
		}
		seen[c] = true
	}
	for i, e := range s.Emails {
		p := path.Child("emails").Index(i)
		switch {
		case !validEmail(e):
			errs = append(errs, field.Invalid(p, e, "must be a plain e-mail address such as oncall@example.com"))
		case seen[strings.ToLower(e)]:
			errs = append(errs, field.Duplicate(p, e))
		}
		seen[strings.ToLower(e)] = true
	}

	t, tp := s.Thresholds, path.Child("thresholds")
	if a := t.OldestUnackedAge; a.Set && (a.Duration < time.Second || a.Duration > MaxMessageAge || a.Duration%time.Second != 0) {
		errs = append(errs, field.Invalid(tp.Child("oldestUnackedAge"), a.Written(), "must be whole seconds between 1s and 31d (Pub/Sub keeps no message longer)"))
	}
	if t.UndeliveredMessages < 1 {
		errs = append(errs, field.Invalid(tp.Child("undeliveredMessages"), t.UndeliveredMessages, "must be >= 1"))
	}
	if t.QueueDepth < 1 {
		errs = append(errs, field.Invalid(tp.Child("queueDepth"), t.QueueDepth, "must be >= 1"))
	}
	if t.FailedAttemptsPerSecond < 0 {
		errs = append(errs, field.Invalid(tp.Child("failedAttemptsPerSecond"), t.FailedAttemptsPerSecond, "must be >= 0"))
	}
	if t.Worker5xxPerSecond < 0 {
		errs = append(errs, field.Invalid(tp.Child("worker5xxPerSecond"), t.Worker5xxPerSecond, "must be >= 0"))
	}
	errs = append(errs, validateMinutes(tp.Child("window"), t.Window, MinAlignment, MaxAlignment, "an alignment period")...)
	errs = append(errs, validateMinutes(tp.Child("duration"), t.Duration, 0, MaxDuration, "a condition duration")...)
	return errs
}

// validateMinutes checks a duration the API takes in whole minutes.
func validateMinutes(path *field.Path, d duration.Duration, low, high time.Duration, what string) field.ErrorList {
	switch {
	case !d.Set:
		return field.ErrorList{field.Required(path, fmt.Sprintf("%s of whole minutes between %s and %s", what, duration.Human(low), duration.Human(high)))}
	case d.Duration < low || d.Duration > high:
		return field.ErrorList{field.Invalid(path, d.Written(), fmt.Sprintf("%s must be between %s and %s", what, duration.Human(low), duration.Human(high)))}
	case d.Duration%Granularity != 0:
		return field.ErrorList{field.Invalid(path, d.Written(), what+" must be a multiple of 60s (Cloud Monitoring takes whole minutes)")}
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// DerivedOldestUnackedAge is how long a message may legitimately stay
// unacknowledged on a subscription before Pub/Sub dead-letters it: every
// delivery attempt may hold it for the ack deadline and then wait the
// longest redelivery backoff. Rounded up to whole minutes, at least 10m.
func DerivedOldestUnackedAge(attempts int, ackDeadline, maxBackoff time.Duration) time.Duration {
	d := time.Duration(attempts) * (ackDeadline + maxBackoff)
	d = roundUp(d, Granularity)
	if d < MinDerivedAge {
		return MinDerivedAge
	}
	return d
}

func roundUp(d, unit time.Duration) time.Duration {
	if r := d % unit; r != 0 {
		return d + unit - r
	}
	return d
}

// seconds renders a duration as the API takes it ("300s").
func seconds(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }
