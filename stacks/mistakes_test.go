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
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].ackDeadline", `"long": not a duration`},
				{"asyncjobs:topics[0].subscriptions[0].messageRetention", `"forever": not a duration`}}},
		{"subscription retry backoff unreadable",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.retry", map[string]any{"minimumBackoff": "x", "maximumBackoff": "600s"})},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].retry.minimumBackoff", `"x": not a duration`}}},
		{"alert window unreadable, threshold out of range",
			[]change{set("asyncjobs:alerting", "thresholds.window", "5 minutes"), set("asyncjobs:alerting", "thresholds.undeliveredMessages", 0)},
			[]mistake{{"asyncjobs:alerting.thresholds.window", `"5 minutes": not a duration`}, {"asyncjobs:alerting.thresholds.undeliveredMessages", "must be >= 1"}}},
		{"dead-letter retention as a number, worker memory bad",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.deadLetter.messageRetention", 7), set("asyncjobs:worker", "memory", "lots")},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].deadLetter.messageRetention", "must be a string"}, {"asyncjobs:worker.memory", "memory quantity"}}},

		// A rule across keys does not run on a key that did not decode
		// (strictconfig.Unread): the correct key is not blamed for the
		// default the unread one holds.
		{"max instances unreadable, min instances above its default",
			[]change{set("asyncjobs:worker", "maxInstances", "lots"), set("asyncjobs:worker", "minInstances", 20)},
			[]mistake{{"asyncjobs:worker.maxInstances", "must be a whole number"}}},
		{"grant role unreadable",
			[]change{set("asyncjobs:cronJobs", "0.googleServiceAccount", map[string]any{"grants": []any{map[string]any{"role": 5, "topic": "jobs"}}})},
			[]mistake{{"asyncjobs:cronJobs[0].googleServiceAccount.grants[0].role", "must be a string"}}},
		{"cpu unreadable, memory beyond what the default CPU allows",
			[]change{set("asyncjobs:worker", "cpu", 0.5), set("asyncjobs:worker", "memory", "4097Mi")},
			[]mistake{{"asyncjobs:worker.cpu", "must be a string"}}},

		{"memory unreadable, cpu beyond what the default memory allows",
			[]change{set("asyncjobs:worker", "memory", 4), set("asyncjobs:worker", "cpu", "4")},
			[]mistake{{"asyncjobs:worker.memory", "must be a string"}}},

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

		// Cloud Run's CPU / memory table.
		{"memory above 4Gi on 1 vCPU",
			[]change{set("asyncjobs:worker", "memory", "4097Mi")},
			[]mistake{{"asyncjobs:worker.memory", `Invalid value: "4097Mi"`}}},
		{"4 vCPU with 1Gi",
			[]change{set("asyncjobs:worker", "cpu", "4"), set("asyncjobs:worker", "memory", "1Gi")},
			[]mistake{{"asyncjobs:worker.cpu", `Invalid value: "4"`}}},
		{"32Gi on 6 vCPU",
			[]change{set("asyncjobs:worker", "cpu", "6"), set("asyncjobs:worker", "memory", "32Gi")},
			[]mistake{{"asyncjobs:worker.memory", `Invalid value: "32Gi"`}}},
		{"fractional CPU with more than 1Gi",
			[]change{set("asyncjobs:worker", "cpu", "500m"), set("asyncjobs:worker", "concurrency", 1), set("asyncjobs:worker", "memory", "1025Mi")},
			[]mistake{{"asyncjobs:worker.memory", `Invalid value: "1025Mi"`}}},

		// Pub/Sub filter syntax.
		{"filter with ==",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.filter", `attributes.type == "report"`)},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].filter", "Pub/Sub filters look like"}}},
		{"filter without attributes.",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.filter", `type = "report"`)},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].filter", "Pub/Sub filters look like"}}},
		{"filter mixing AND and OR",
			[]change{set("asyncjobs:topics", "0.subscriptions.0.filter", `attributes.a = "1" AND attributes.b = "2" OR attributes.c = "3"`)},
			[]mistake{{"asyncjobs:topics[0].subscriptions[0].filter", "Pub/Sub filters look like"}}},

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
			_, loadErr := stacks.Load(st.Name, stacks.Source(cfg))
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

// TestDerivedNames: a derived service-account id is checked only when its
// account exists, a derived id that does not fit says which key sets it, and
// every derived id can be set explicitly. With it, valid boundary values
// that must plan.
func TestDerivedNames(t *testing.T) {
	st := loadStack(t, "dev")
	long := "w" + strings.Repeat("x", 48) // 49 characters: Cloud Run's limit
	// The subscription pushes to the worker (so no Deployment pulls it).
	pushed := both(set("asyncjobs:topics", "0.subscriptions.0.push", map[string]any{"path": "/push"}), raw("asyncjobs:subscribers", "[]"))
	for _, tc := range []struct {
		name    string
		changes []func(*testing.T, map[string]string)
		want    []mistake // nil: the configuration plans
	}{
		{"49-character worker name, runtime id set, no push: plans",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "name", long), set("asyncjobs:worker", "serviceAccountId", "worker-run")}, nil},
		{"49-character worker name, derived runtime id too long",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "name", long)},
			[]mistake{{"asyncjobs:worker.serviceAccountId", "derived from the service name; set asyncjobs:worker.serviceAccountId"}}},
		{"49-character worker name with a push subscription, derived push id too long",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "name", long), set("asyncjobs:worker", "serviceAccountId", "worker-run"),
				pushed},
			[]mistake{{"asyncjobs:worker.pushServiceAccountId", "set asyncjobs:worker.pushServiceAccountId"}}},
		{"49-character worker name with a push subscription, both ids set: plans",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "name", long), set("asyncjobs:worker", "serviceAccountId", "worker-run"),
				set("asyncjobs:worker", "pushServiceAccountId", "worker-push"), pushed}, nil},
		{"explicit push id too short",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "pushServiceAccountId", "abc"), pushed},
			[]mistake{{"asyncjobs:worker.pushServiceAccountId", `Invalid value: "abc"`}}},
		{"4 vCPU with 16Gi: plans",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "cpu", "4"), set("asyncjobs:worker", "memory", "16Gi")}, nil},
		{"8 vCPU with 32Gi: plans",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "cpu", "8"), set("asyncjobs:worker", "memory", "32Gi")}, nil},
		{"1 vCPU with 4Gi: plans",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "memory", "4Gi")}, nil},
		{"half a vCPU with 1Gi: plans",
			[]func(*testing.T, map[string]string){
				set("asyncjobs:worker", "cpu", "500m"), set("asyncjobs:worker", "concurrency", 1), set("asyncjobs:worker", "memory", "1Gi")}, nil},
		{"filters of every documented form: plan",
			[]func(*testing.T, map[string]string){set("asyncjobs:topics", "0.subscriptions.0.filter",
				`(attributes.a = "1" AND NOT attributes:b) OR (hasPrefix(attributes.c, "x") AND -attributes.d != "2")`)}, nil},
		{"explicit push id unused is not checked",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "pushServiceAccountId", "abc")}, nil},
		{"push id clashing with the runtime id",
			[]func(*testing.T, map[string]string){set("asyncjobs:worker", "pushServiceAccountId", "worker-run"), pushed},
			[]mistake{{"asyncjobs:worker.pushServiceAccountId", "already used"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := copyConfig(st.Config)
			for _, c := range tc.changes {
				c(t, cfg)
			}
			_, err := stacks.Load(st.Name, stacks.Source(cfg))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if _, err := record(t, st, cfg, false); err != nil {
					t.Fatalf("does not plan: %v", err)
				}
				return
			}
			cfgErr, ok := err.(*stacks.ConfigError)
			if !ok {
				t.Fatalf("Load returned %T (%v), want *ConfigError", err, err)
			}
			if len(cfgErr.Errs) != len(tc.want) {
				t.Errorf("got %v, want %v", cfgErr, tc.want)
			}
			for _, w := range tc.want {
				found := false
				for _, e := range cfgErr.Errs {
					found = found || (e.Field == w.path && strings.Contains(e.Error(), w.want))
				}
				if !found {
					t.Errorf("no error at %s containing %q in:\n%v", w.path, w.want, cfgErr)
				}
			}
		})
	}
}

// TestExactLimitsPlan: every range at its exact lower and upper limit
// plans, so validation never refuses what the APIs accept.
func TestExactLimitsPlan(t *testing.T) {
	st := loadStack(t, "dev")
	type change = func(*testing.T, map[string]string)
	for _, tc := range []struct {
		name    string
		changes []change
	}{
		{"lower limits", []change{
			raw("asyncjobs:nameSuffix", "a"),
			set("asyncjobs:worker", "port", 1), set("asyncjobs:worker", "cpu", "80m"), set("asyncjobs:worker", "memory", "128Mi"),
			set("asyncjobs:worker", "concurrency", 1), set("asyncjobs:worker", "minInstances", 0), set("asyncjobs:worker", "maxInstances", 1),
			set("asyncjobs:worker", "timeout", "1s"),
			set("asyncjobs:queues", "0.rateLimits.maxConcurrentDispatches", 1), set("asyncjobs:queues", "0.retry.maxAttempts", 1),
			set("asyncjobs:queues", "0.retry.minBackoff", "0s"), set("asyncjobs:queues", "0.retry.maxBackoff", "0s"),
			set("asyncjobs:queues", "0.retry.maxDoublings", 0), set("asyncjobs:queues", "0.loggingSamplingRatio", 0),
			set("asyncjobs:topics", "0.messageRetention", "10m"),
			set("asyncjobs:topics", "0.subscriptions.0.ackDeadline", "10s"), set("asyncjobs:topics", "0.subscriptions.0.messageRetention", "10m"),
			set("asyncjobs:topics", "0.subscriptions.0.retry", map[string]any{"minimumBackoff": "0s", "maximumBackoff": "0s"}),
			set("asyncjobs:topics", "0.subscriptions.0.deadLetter.maxDeliveryAttempts", 5),
			set("asyncjobs:topics", "0.subscriptions.0.deadLetter.messageRetention", "10m"),
			set("asyncjobs:alerting", "thresholds.window", "1m"), set("asyncjobs:alerting", "thresholds.duration", "0s"),
			set("asyncjobs:alerting", "thresholds.oldestUnackedAge", "1s"),
		}},
		{"upper limits", []change{
			raw("asyncjobs:nameSuffix", "abcdefgh"),
			set("asyncjobs:worker", "name", "w"+strings.Repeat("x", 39)), set("asyncjobs:worker", "serviceAccountId", "worker-run"),
			set("asyncjobs:worker", "port", 65535), set("asyncjobs:worker", "cpu", "8"), set("asyncjobs:worker", "memory", "32Gi"),
			set("asyncjobs:worker", "concurrency", 1000), set("asyncjobs:worker", "minInstances", 1000), set("asyncjobs:worker", "maxInstances", 1000),
			set("asyncjobs:worker", "timeout", "60m"),
			set("asyncjobs:queues", "0.rateLimits.maxDispatchesPerSecond", 500), set("asyncjobs:queues", "0.rateLimits.maxConcurrentDispatches", 5000),
			set("asyncjobs:queues", "0.loggingSamplingRatio", 1), set("asyncjobs:queues", "0.retry.maxAttempts", -1),
			set("asyncjobs:topics", "0.messageRetention", "31d"),
			set("asyncjobs:topics", "0.subscriptions.0.ackDeadline", "600s"), set("asyncjobs:topics", "0.subscriptions.0.messageRetention", "31d"),
			set("asyncjobs:topics", "0.subscriptions.0.retry", map[string]any{"minimumBackoff": "600s", "maximumBackoff": "600s"}),
			set("asyncjobs:topics", "0.subscriptions.0.deadLetter.maxDeliveryAttempts", 100),
			set("asyncjobs:topics", "0.subscriptions.0.deadLetter.messageRetention", "31d"),
			set("asyncjobs:topics", "0.subscriptions.0.filter", strings.Repeat(" ", 256-len(`attributes.a = "1"`))+`attributes.a = "1"`),
			set("asyncjobs:alerting", "thresholds.window", "25h"), set("asyncjobs:alerting", "thresholds.duration", "1d"),
			set("asyncjobs:alerting", "thresholds.oldestUnackedAge", "31d"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := copyConfig(st.Config)
			for _, c := range tc.changes {
				c(t, cfg)
			}
			if _, err := stacks.Load(st.Name, stacks.Source(cfg)); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if _, err := record(t, st, cfg, false); err != nil {
				t.Fatalf("does not plan: %v", err)
			}
		})
	}
}
