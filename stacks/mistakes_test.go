package stacks_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/stacks"
)

// mistake is one expected error: its exact key path and a part of its text.
type mistake struct{ path, want string }

// TestMistakesWhereTheyAre: every mistake is reported at its own key path,
// with the value as written, next to every other mistake of the same
// object, and no correct key is blamed for it. Each case lists exactly the
// errors it must produce; nothing is registered.
func TestMistakesWhereTheyAre(t *testing.T) {
	st := loadStack(t, "dev")
	type change = func(*testing.T, map[string]string)
	cases := []struct {
		name    string
		changes []change
		want    []mistake
	}{
		// Values that cannot be read keep their key path and hide nothing.
		{"worker timeout unreadable, port out of range",
			[]change{set("asyncjobs:worker", "timeout", "ten"), set("asyncjobs:worker", "port", 0)},
			[]mistake{{"asyncjobs:worker.timeout", `Invalid value: "ten": not a duration`}, {"asyncjobs:worker.port", "between 1 and 65535"}}},
		{"queue backoff unreadable, doublings negative",
			[]change{set("asyncjobs:queues", "0.retry.minBackoff", "soon"), set("asyncjobs:queues", "0.retry.maxDoublings", -1)},
			[]mistake{{"asyncjobs:queues[0].retry.minBackoff", `"soon": not a duration`}, {"asyncjobs:queues[0].retry.maxDoublings", "must be >= 0"}}},
		{"subscription ack deadline and retention unreadable",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.ackDeadline", "long"), set("asyncjobs:topics", "0.subscriptions.0.messageRetention", "forever")},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].ackDeadline", `"long": not a duration`}, {"asyncjobs:topics[0].subscriptions[0].messageRetention", `"forever": not a duration`}}},
		{"subscription retry backoff unreadable",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.retry", map[string]any{"minimumBackoff": "x", "maximumBackoff": "600s"})},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].retry.minimumBackoff", `"x": not a duration`}}},
		{"alert window unreadable, threshold out of range",
			[]change{set("asyncjobs:alerting", "thresholds.window", "5 minutes"), set("asyncjobs:alerting", "thresholds.undeliveredMessages", 0)},
			[]mistake{{"asyncjobs:alerting.thresholds.window", `"5 minutes": not a duration`}, {"asyncjobs:alerting.thresholds.undeliveredMessages", "must be >= 1"}}},
		{"dead-letter retention as a number, worker memory bad",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.deadLetter.messageRetention", 7), set("asyncjobs:worker", "memory", "lots")},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].deadLetter.messageRetention", "must be a string"}, {"asyncjobs:worker.memory", "memory quantity"}}},

		// A mistake never blames a correct key: the subscriber's reference
		// to jobs/jobs-worker is right in every case below.
		{"unknown key under topics",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.ackDeadlin", "60s")},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].ackDeadlin", `did you mean "ackDeadline"`}}},
		{"type error under topics",
			[]change{set("asyncjobs:topics", "0.messageRetention", 7)},
			[]mistake{{"asyncjobs:topics[0].messageRetention", "must be a string"}}},
		{"topic name of the wrong type",
			[]change{set("asyncjobs:topics", "0.name", 5)},
			[]mistake{{"asyncjobs:topics[0].name", "must be a string"}}},
		{"subscription name misspelt key",
			[]change{set("asyncjobs:topics", "0.subscriptions.0", map[string]any{"nmae": "jobs-worker"})},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].nmae", `did you mean "name"`}, {"asyncjobs:topics[0].subscriptions[0].name", "Required value"}}},
		{"cron grant next to a broken topic",
			[]change{set("asyncjobs:topics", "0.name", true),
				set("asyncjobs:cronJobs", "0.googleServiceAccount", map[string]any{"grants": []any{map[string]any{"role": "roles/pubsub.publisher", "topic": "jobs"}}})},
			[]mistake{{"asyncjobs:topics[0].name", "must be a string"}}},
		{"a wrong reference is still reported",
			[]change{set("asyncjobs:subscribers", "0.subscription", "jobs/nope")},
			[]mistake{{"asyncjobs:subscribers[0].subscription", `Unsupported value: "jobs/nope"`}}},

		// Values are shown as written, not normalised.
		{"ack deadline as written",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.ackDeadline", "601s")},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].ackDeadline", `Invalid value: "601s"`}}},
		{"alert window as written",
			[]change{set("asyncjobs:alerting", "thresholds.window", "26h")},
			[]mistake{{"asyncjobs:alerting.thresholds.window", `Invalid value: "26h"`}}},
		{"negative backoff as written",
			[]change{set("asyncjobs:queues", "0.retry.minBackoff", "-1h")},
			[]mistake{{"asyncjobs:queues[0].retry.minBackoff", `Invalid value: "-1h"`}}},
		{"backoff order names the other value as written",
			[]change{set("asyncjobs:queues", "0.retry.minBackoff", "120s"), set("asyncjobs:queues", "0.retry.maxBackoff", "90s")},
			[]mistake{{"asyncjobs:queues[0].retry.maxBackoff", `Invalid value: "90s": must be >= minBackoff (120s)`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := copyConfig(st.Config)
			for _, c := range tc.changes {
				c(t, cfg)
			}
			plan, err := record(t, st, cfg, true)
			if err == nil {
				t.Fatal("configuration accepted")
			}
			if plan == nil || len(plan.Resources) != 0 {
				t.Errorf("resources registered for a rejected configuration")
			}
			_, loadErr := stacks.Load(stacks.Source(cfg))
			cfgErr, ok := loadErr.(*stacks.ConfigError)
			if !ok {
				t.Fatalf("Load returned %T (%v), want *ConfigError", loadErr, loadErr)
			}
			var got []string
			for _, e := range cfgErr.Errs {
				got = append(got, e.Field)
			}
			var paths []string
			for _, w := range tc.want {
				paths = append(paths, w.path)
				i := slices.Index(got, w.path)
				if i < 0 {
					t.Errorf("no error at %s", w.path)
					continue
				}
				if msg := cfgErr.Errs[i].Error(); !strings.Contains(msg, w.want) {
					t.Errorf("error at %s is %q, want it to contain %q", w.path, msg, w.want)
				}
			}
			slices.Sort(got)
			slices.Sort(paths)
			if !slices.Equal(got, paths) {
				t.Errorf("errors at %v, want exactly %v:\n%v", got, paths, cfgErr)
			}
		})
	}
}
