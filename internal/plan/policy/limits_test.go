package policy_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
)

// TestRangeRulesMatchValidation: the Pub/Sub range rules of
// policy/pubsub.rego repeat the API's limits as literals (Rego cannot read
// Go constants, and the OPA analyzer loads only the .rego files), and stack
// validation (components/messaging) holds the same limits as constants.
// Each rule must stay silent at the Go limits and fire one step outside
// them, so the two cannot drift apart.
func TestRangeRulesMatchValidation(t *testing.T) {
	secs := func(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }
	num := func(d time.Duration) any { return float64(d / time.Second) }
	cases := []struct {
		rule, typ, name, path string
		ok, bad               []any
	}{
		{"pubsub-ack-deadline-range", subscription, workerSub, "ackDeadlineSeconds",
			[]any{num(messaging.MinAckDeadline), num(messaging.MaxAckDeadline)},
			[]any{num(messaging.MinAckDeadline - time.Second), num(messaging.MaxAckDeadline + time.Second)}},
		{"pubsub-retention-range", subscription, dlSub, "messageRetentionDuration",
			[]any{secs(messaging.MinRetention), secs(messaging.MaxRetention)},
			[]any{secs(messaging.MinRetention - time.Second), secs(messaging.MaxRetention + time.Second)}},
		{"pubsub-retention-range", topic, jobsTopic, "messageRetentionDuration",
			[]any{secs(messaging.MinRetention), secs(messaging.MaxRetention)},
			[]any{secs(messaging.MinRetention - time.Second), secs(messaging.MaxRetention + time.Second)}},
		{"pubsub-retry-backoff-range", subscription, workerSub, "retryPolicy.maximumBackoff",
			[]any{secs(messaging.MaxBackoff)},
			[]any{secs(messaging.MaxBackoff + time.Second)}},
		{"pubsub-max-delivery-attempts-range", subscription, workerSub, "deadLetterPolicy.maxDeliveryAttempts",
			[]any{float64(messaging.MinDeliveryAttempts), float64(messaging.MaxDeliveryAttempts)},
			[]any{float64(messaging.MinDeliveryAttempts - 1), float64(messaging.MaxDeliveryAttempts + 1)}},
	}
	e := engine(t)
	for _, tc := range cases {
		for _, want := range []bool{false, true} {
			values := tc.ok
			if want {
				values = tc.bad
			}
			for _, v := range values {
				t.Run(fmt.Sprintf("%s/%s/%v", tc.rule, tc.typ, v), func(t *testing.T) {
					p := goodPlan(t)
					set(tc.typ, tc.name, tc.path, v)(t, p)
					got := slices.Contains(ruleIDs(evaluate(t, e, p, policy.Options{}).Violations), tc.rule)
					if got != want {
						t.Errorf("%s = %v: rule %s fires %v, want %v (validation's limits are the constants of components/messaging)", tc.path, v, tc.rule, got, want)
					}
				})
			}
		}
	}
}
