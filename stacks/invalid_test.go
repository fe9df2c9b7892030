package stacks_test

import (
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/stacks"
)

// TestInvalidConfigs runs the whole program on broken variants of the dev
// stack. Each must fail with an error naming the key path, and register
// nothing at all.
func TestInvalidConfigs(t *testing.T) {
	st := loadStack(t, "dev")
	cases := []struct {
		name   string
		change func(t *testing.T, cfg map[string]string)
		path   string
		want   string
	}{
		{"unknown top-level key", raw("asyncjobs:workers", `{}`), "asyncjobs:workers", `did you mean "worker"`},
		{"unknown nested key", set("asyncjobs:queues", "0.retry.maxDoubling", 3), "asyncjobs:queues[0].retry.maxDoubling", `did you mean "maxDoublings"`},
		{"unknown worker key", set("asyncjobs:worker", "replicas", 3), "asyncjobs:worker.replicas", "unknown key"},
		{"wrong type", set("asyncjobs:worker", "port", "8080"), "asyncjobs:worker.port", "must be a whole number"},
		{"fractional integer", set("asyncjobs:worker", "maxInstances", 1.5), "asyncjobs:worker.maxInstances", "must be a whole number"},
		{"duration as number", set("asyncjobs:worker", "timeout", 60), "asyncjobs:worker.timeout", "must be a string"},
		{"bad duration", set("asyncjobs:worker", "timeout", "sixty minutes"), "asyncjobs:worker.timeout", `Invalid value: "sixty minutes": not a duration`},
		{"not json", raw("asyncjobs:queues", `[{`), "asyncjobs:queues", "must be valid list"},
		{"protect not bool", raw("asyncjobs:protect", `yes`), "asyncjobs:protect", "must be valid true or false"},
		{"missing project", del("gcp:project"), "gcp:project", "Required value"},
		{"bad project", raw("gcp:project", "My Project"), "gcp:project", "must be a project id"},
		{"missing region", del("asyncjobs:region"), "asyncjobs:region", "Required value"},
		{"bad region", raw("asyncjobs:region", "tokyo"), "asyncjobs:region", "must be a region"},
		{"bad suffix", raw("asyncjobs:nameSuffix", "Test_1"), "asyncjobs:nameSuffix", "lowercase letters or digits"},
		{"bad label", set("asyncjobs:labels", "Team", "x"), "asyncjobs:labels[Team]", "label keys"},
		{"public deployer", raw("asyncjobs:deployers", `["allUsers"]`), "asyncjobs:deployers[0]", "public"},
		{"deployer without type", raw("asyncjobs:deployers", `["deployer@ci.iam.gserviceaccount.com"]`), "asyncjobs:deployers[0]", "must be <kind>:<id>"},
		{"reserved label", set("asyncjobs:labels", "asyncjobs-role", "x"), "asyncjobs:labels[asyncjobs-role]", "set by asyncjobs"},
		{"missing image", set("asyncjobs:worker", "image", nil), "asyncjobs:worker.image", "Required value"},
		{"latest image", set("asyncjobs:worker", "image", "gcr.io/p/app:latest"), "asyncjobs:worker.image", "latest"},
		{"public invoker", set("asyncjobs:worker", "invokers", []any{"allUsers"}), "asyncjobs:worker.invokers[0]", "public"},
		{"all authenticated invoker", set("asyncjobs:worker", "invokers", []any{"allAuthenticatedUsers"}), "asyncjobs:worker.invokers[0]", "public"},
		{"timeout over an hour", set("asyncjobs:worker", "timeout", "61m"), "asyncjobs:worker.timeout", "between 1s and 60m"},
		{"concurrency over 1000", set("asyncjobs:worker", "concurrency", 1001), "asyncjobs:worker.concurrency", "between 1 and 1000"},
		{"fractional cpu with concurrency", set("asyncjobs:worker", "cpu", "500m"), "asyncjobs:worker.concurrency", "must be 1 when cpu is below 1"},
		{"min above max instances", set("asyncjobs:worker", "minInstances", 2), "asyncjobs:worker.minInstances", "between 0 and maxInstances"},
		{"ingress public load balancer", set("asyncjobs:worker", "ingress", "all-and-lb"), "asyncjobs:worker.ingress", "Unsupported value"},
		{"bad service name", set("asyncjobs:worker", "name", "Worker_1"), "asyncjobs:worker.name", "Cloud Run service names"},
		{"dispatches over 500", set("asyncjobs:queues", "0.rateLimits.maxDispatchesPerSecond", 501),
			"asyncjobs:queues[0].rateLimits.maxDispatchesPerSecond", "<= 500"},
		{"dispatches zero", set("asyncjobs:queues", "0.rateLimits.maxDispatchesPerSecond", 0), "asyncjobs:queues[0].rateLimits.maxDispatchesPerSecond", "> 0"},
		{"concurrent dispatches over 5000", set("asyncjobs:queues", "0.rateLimits.maxConcurrentDispatches", 5001),
			"asyncjobs:queues[0].rateLimits.maxConcurrentDispatches", "between 1 and 5000"},
		{"max attempts -2", set("asyncjobs:queues", "0.retry.maxAttempts", -2), "asyncjobs:queues[0].retry.maxAttempts", "-1 for unlimited"},
		{"negative doublings", set("asyncjobs:queues", "0.retry.maxDoublings", -1), "asyncjobs:queues[0].retry.maxDoublings", "Invalid value: -1: must be >= 0"},
		{"max backoff below min", set("asyncjobs:queues", "0.retry.maxBackoff", "5s"), "asyncjobs:queues[0].retry.maxBackoff", "must be >= minBackoff"},
		{"negative min backoff", set("asyncjobs:queues", "0.retry.minBackoff", "-1s"), "asyncjobs:queues[0].retry.minBackoff", ">= 0s"},
		{"sub-second min backoff", set("asyncjobs:queues", "0.retry.minBackoff", "100ms"), "asyncjobs:queues[0].retry.minBackoff", "must be whole seconds"},
		{"sampling above 1", set("asyncjobs:queues", "0.loggingSamplingRatio", 2), "asyncjobs:queues[0].loggingSamplingRatio", "between 0 and 1"},
		{"queue name underscore", set("asyncjobs:queues", "0.name", "sample_queue"), "asyncjobs:queues[0].name", "letters, digits and hyphens"},
		{"duplicate queue", raw("asyncjobs:queues", `[{"name":"q-one"},{"name":"q-one"}]`), "asyncjobs:queues[1].name", "already used"},
		{"public enqueuer", set("asyncjobs:queues", "0.enqueuers", []any{"allUsers"}), "asyncjobs:queues[0].enqueuers[0]", "public"},
		{"member without kind", set("asyncjobs:queues", "0.enqueuers", []any{"dev@example.com"}), "asyncjobs:queues[0].enqueuers[0]", "<kind>:<id>"},
		{"default compute account enqueuer", set("asyncjobs:queues", "0.enqueuers", []any{"serviceAccount:123-compute@developer.gserviceaccount.com"}),
			"asyncjobs:queues[0].enqueuers[0]", "default service account"},
		{"service account id collision", set("asyncjobs:queues", "0.invokerAccountId", "worker-run"), "asyncjobs:queues[0].invokerAccountId", "already used"},
		{"derived account id too long", set("asyncjobs:queues", "0.name", "a-very-long-queue-name-for-ids"),
			"asyncjobs:queues[0].invokerAccountId", "6-30 characters"},
		{"ack deadline 5s", set("asyncjobs:topics", "0.subscriptions.0.ackDeadline", "5s"),
			"asyncjobs:topics[0].subscriptions[0].ackDeadline", "between 10s and 600s"},
		{"ack deadline 601s", set("asyncjobs:topics", "0.subscriptions.0.ackDeadline", "601s"),
			"asyncjobs:topics[0].subscriptions[0].ackDeadline", "between 10s and 600s"},
		{"retention 32d", set("asyncjobs:topics", "0.subscriptions.0.messageRetention", "32d"),
			"asyncjobs:topics[0].subscriptions[0].messageRetention", "between 10m and 31d"},
		{"retention 9m", set("asyncjobs:topics", "0.subscriptions.0.messageRetention", "9m"),
			"asyncjobs:topics[0].subscriptions[0].messageRetention", "between 10m and 31d"},
		{"delivery attempts 4", set("asyncjobs:topics", "0.subscriptions.0.deadLetter.maxDeliveryAttempts", 4),
			"asyncjobs:topics[0].subscriptions[0].deadLetter.maxDeliveryAttempts", "between 5 and 100"},
		{"delivery attempts 101", set("asyncjobs:topics", "0.subscriptions.0.deadLetter.maxDeliveryAttempts", 101),
			"asyncjobs:topics[0].subscriptions[0].deadLetter.maxDeliveryAttempts", "between 5 and 100"},
		{"backoff over 600s", set("asyncjobs:topics", "0.subscriptions.0.retry", map[string]any{"minimumBackoff": "10s", "maximumBackoff": "700s"}),
			"asyncjobs:topics[0].subscriptions[0].retry.maximumBackoff", "between 0s and 600s"},
		{"backoff min above max", set("asyncjobs:topics", "0.subscriptions.0.retry", map[string]any{"minimumBackoff": "60s", "maximumBackoff": "30s"}),
			"asyncjobs:topics[0].subscriptions[0].retry.maximumBackoff", "must be >= minimumBackoff"},
		{"exactly once on push", set("asyncjobs:topics", "0.subscriptions.0.push", map[string]any{"path": "/p"}), "", ""},
		{"topic without subscriptions", set("asyncjobs:topics", "0.subscriptions", []any{}),
			"asyncjobs:topics[0].subscriptions", "messages published to a topic without subscriptions are lost"},
		{"topic named goog", set("asyncjobs:topics", "0.name", "googjobs"), "asyncjobs:topics[0].name", `must not start with "goog"`},
		{"dead-letter name clash",
			raw("asyncjobs:topics", `[{"name":"jobs","subscriptions":[{"name":"jobs-worker"}]},{"name":"jobs-worker-dead-letter","subscriptions":[{"name":"other"}]}]`),
			"asyncjobs:topics[1].name", "already used"},
		{"duplicate subscription", raw("asyncjobs:topics", `[{"name":"jobs","subscriptions":[{"name":"jobs-worker"},{"name":"jobs-worker"}]}]`),
			"asyncjobs:topics[0].subscriptions[1].name", "already used"},
		{"public subscriber", set("asyncjobs:topics", "0.subscriptions.0.subscribers", []any{"allUsers"}),
			"asyncjobs:topics[0].subscriptions[0].subscribers[0]", "public"},
		{"workloads without cluster", set("asyncjobs:gke", "name", nil), "asyncjobs:gke.name", "Required value"},
		{"workloads in default namespace", set("asyncjobs:gke", "namespace", "default"), "asyncjobs:gke.namespace", "not a namespace for application workloads"},
		{"namespace too long with the suffix", both(set("asyncjobs:gke", "namespace", strings.Repeat("n", 61)), raw("asyncjobs:nameSuffix", "t1")),
			"asyncjobs:gke.namespace", `with the name suffix it becomes "` + strings.Repeat("n", 61) + `-t1": must be no more than 63 characters`},
		// Retired: a created cluster's deletion protection follows asyncjobs:protect.
		{"retired gke.deletionProtection", set("asyncjobs:gke", "deletionProtection", true), "asyncjobs:gke.deletionProtection", "this key was removed"},
		{"retired gke.deletionProtection set false", set("asyncjobs:gke", "deletionProtection", false), "asyncjobs:gke.deletionProtection", "this key was removed"},
		{"subscriber on unknown subscription", set("asyncjobs:subscribers", "0.subscription", "jobs/nope"),
			"asyncjobs:subscribers[0].subscription", "Unsupported value"},
		{"subscriber latest image", set("asyncjobs:subscribers", "0.container.image", "app:latest"), "asyncjobs:subscribers[0].container.image", "latest"},
		{"subscriber root user", set("asyncjobs:subscribers", "0.container.runAsUser", 0), "asyncjobs:subscribers[0].container.runAsUser", ">= 10001"},
		{"subscriber min above max", set("asyncjobs:subscribers", "0.maxReplicas", 0), "asyncjobs:subscribers[0].maxReplicas", ">= minReplicas"},
		{"subscriber cpu target 0", set("asyncjobs:subscribers", "0.targetCpuUtilization", 0), "asyncjobs:subscribers[0].targetCpuUtilization", "between 1 and 100"},
		{"subscriber missing limits", set("asyncjobs:subscribers", "0.container.resources.limits", map[string]any{"cpu": ""}),
			"asyncjobs:subscribers[0].container.resources.limits.cpu", "positive quantity"},
		{"workload name clash", set("asyncjobs:cronJobs", "0.name", "jobs-subscriber"), "asyncjobs:cronJobs[0].name", "already used"},
		{"cron schedule with six fields", set("asyncjobs:cronJobs", "0.schedule", "0 * * * * *"), "asyncjobs:cronJobs[0].schedule", "standard cron schedule"},
		{"cron TZ prefix", set("asyncjobs:cronJobs", "0.schedule", "CRON_TZ=UTC 0 * * * *"), "asyncjobs:cronJobs[0].schedule", "set timeZone"},
		{"cron bad time zone", set("asyncjobs:cronJobs", "0.timeZone", "Tokyo"), "asyncjobs:cronJobs[0].timeZone", "IANA"},
		{"cron starting deadline 5", set("asyncjobs:cronJobs", "0.startingDeadlineSeconds", 5), "asyncjobs:cronJobs[0].startingDeadlineSeconds", ">= 10"},
		{"cron parallelism above completions", set("asyncjobs:cronJobs", "0.parallelism", 4), "asyncjobs:cronJobs[0].parallelism", "<= completions"},
		{"cron indexed without completions", set("asyncjobs:cronJobs", "0.completions", 0), "asyncjobs:cronJobs[0].completions", "Indexed"},
		{"cron restart Always", set("asyncjobs:cronJobs", "0.restartPolicy", "Always"), "asyncjobs:cronJobs[0].restartPolicy", "Unsupported value"},
		{"cron name too long", set("asyncjobs:cronJobs", "0.name", "c"+strings.Repeat("x", 52)), "asyncjobs:cronJobs[0].name", "may not be more than 52"},
		{"cron grant on unknown topic",
			set("asyncjobs:cronJobs", "0.googleServiceAccount", map[string]any{"grants": []any{map[string]any{"role": "roles/pubsub.publisher", "topic": "nope"}}}),
			"asyncjobs:cronJobs[0].googleServiceAccount.grants[0].topic", "Not found"},
		{"cron grant with a broad role",
			set("asyncjobs:cronJobs", "0.googleServiceAccount", map[string]any{"grants": []any{map[string]any{"role": "roles/editor", "topic": "jobs"}}}),
			"asyncjobs:cronJobs[0].googleServiceAccount.grants[0]", "roles/pubsub.publisher on a topic"},
		{"public publisher", set("asyncjobs:topics", "0.publishers", []any{"allAuthenticatedUsers"}), "asyncjobs:topics[0].publishers[0]", "public"},
		{"alerting unknown key", set("asyncjobs:alerting", "thresholds.queueDeph", 5), "asyncjobs:alerting.thresholds.queueDeph", `did you mean "queueDepth"`},
		{"alerting bad channel id", set("asyncjobs:alerting", "notificationChannels", []any{"projects/asyncjobs-dev/channels/1"}),
			"asyncjobs:alerting.notificationChannels[0]", "projects/<project>/notificationChannels/<numeric id>"},
		{"alerting bad e-mail", set("asyncjobs:alerting", "emails", []any{"oncall.example.com"}), "asyncjobs:alerting.emails[0]", "plain e-mail address"},
		{"alerting negative queue depth", set("asyncjobs:alerting", "thresholds.queueDepth", -5), "asyncjobs:alerting.thresholds.queueDepth", "must be >= 1"},
		{"alerting negative failure rate", set("asyncjobs:alerting", "thresholds.failedAttemptsPerSecond", -0.5),
			"asyncjobs:alerting.thresholds.failedAttemptsPerSecond", "must be >= 0"},
		{"alerting oldest age above retention", set("asyncjobs:alerting", "thresholds.oldestUnackedAge", "32d"),
			"asyncjobs:alerting.thresholds.oldestUnackedAge", "between 1s and 31d"},
		{"alerting window not whole minutes", set("asyncjobs:alerting", "thresholds.window", "90s"), "asyncjobs:alerting.thresholds.window", "multiple of 60s"},
		{"alerting window below 60s", set("asyncjobs:alerting", "thresholds.window", "30s"), "asyncjobs:alerting.thresholds.window", "between 1m and 25h"},
		{"alerting window above 25h", set("asyncjobs:alerting", "thresholds.window", "26h"), "asyncjobs:alerting.thresholds.window", "between 1m and 25h"},
		{"alerting negative duration", set("asyncjobs:alerting", "thresholds.duration", "-5m"), "asyncjobs:alerting.thresholds.duration", "between 0s and 1d"},
		{"alerting duration not whole minutes", set("asyncjobs:alerting", "thresholds.duration", "150s"),
			"asyncjobs:alerting.thresholds.duration", "multiple of 60s"},
		{"production alerts without channel", set("asyncjobs:labels", "environment", "prod"), "asyncjobs:alerting.notificationChannels", "must notify someone"},
	}
	// The push case above is valid on its own; make it the exactly-once one.
	for i := range cases {
		if cases[i].name == "exactly once on push" {
			cases[i].change = func(t *testing.T, cfg map[string]string) {
				set("asyncjobs:topics", "0.subscriptions.0.push", map[string]any{"path": "/p"})(t, cfg)
				set("asyncjobs:topics", "0.subscriptions.0.exactlyOnce", true)(t, cfg)
			}
			cases[i].path = "asyncjobs:topics[0].subscriptions[0].exactlyOnce"
			cases[i].want = "only available on pull subscriptions"
		}
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := copyConfig(st.Config)
			tc.change(t, cfg)
			plan, err := record(t, st, cfg, true)
			if err == nil {
				t.Fatalf("configuration accepted")
			}
			if plan == nil || len(plan.Resources) != 0 {
				t.Errorf("%d resources registered for a rejected configuration", len(plan.Resources))
			}
			_, loadErr := stacks.Load(st.Name, stacks.Source(cfg))
			cfgErr, ok := loadErr.(*stacks.ConfigError)
			if !ok {
				t.Fatalf("Load returned %T (%v), want *ConfigError", loadErr, loadErr)
			}
			for _, e := range cfgErr.Errs {
				if e.Field == tc.path && strings.Contains(e.Error(), tc.want) {
					if !strings.Contains(err.Error(), e.Error()) {
						t.Errorf("the program's error does not carry %q:\n%v", e.Error(), err)
					}
					return
				}
			}
			t.Errorf("want an error at %s containing %q, got:\n%v", tc.path, tc.want, cfgErr)
		})
	}
}

// TestEveryErrorAtOnce: a configuration with several problems reports all.
func TestEveryErrorAtOnce(t *testing.T) {
	st := loadStack(t, "dev")
	cfg := copyConfig(st.Config)
	set("asyncjobs:worker", "concurrency", 0)(t, cfg)
	set("asyncjobs:queues", "0.retry.maxDoublings", -1)(t, cfg)
	set("asyncjobs:topics", "0.subscriptions.0.ackDeadline", "1s")(t, cfg)
	raw("asyncjobs:colour", "blue")(t, cfg)
	_, err := stacks.Load(st.Name, stacks.Source(cfg))
	cfgErr, ok := err.(*stacks.ConfigError)
	if !ok {
		t.Fatalf("got %v, want a ConfigError", err)
	}
	want := []string{
		"asyncjobs:worker.concurrency", "asyncjobs:queues[0].retry.maxDoublings", "asyncjobs:topics[0].subscriptions[0].ackDeadline", "asyncjobs:colour",
	}
	got := map[string]bool{}
	for _, e := range cfgErr.Errs {
		got[e.Field] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing error for %s in:\n%v", w, cfgErr)
		}
	}
	if len(cfgErr.Errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(cfgErr.Errs), len(want), cfgErr)
	}
}

func set(key, path string, value any) func(*testing.T, map[string]string) {
	return func(t *testing.T, cfg map[string]string) { setIn(t, cfg, key, path, value) }
}

func raw(key, value string) func(*testing.T, map[string]string) {
	return func(_ *testing.T, cfg map[string]string) { cfg[key] = value }
}

func both(a, b func(*testing.T, map[string]string)) func(*testing.T, map[string]string) {
	return func(t *testing.T, cfg map[string]string) { a(t, cfg); b(t, cfg) }
}

func del(key string) func(*testing.T, map[string]string) {
	return func(_ *testing.T, cfg map[string]string) { delete(cfg, key) }
}
