package stacks_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

const projectDir = ".."

func loadStack(t testing.TB, name string) *stackfile.Stack {
	t.Helper()
	st, err := stackfile.Load(projectDir, name)
	if err != nil {
		t.Fatalf("loading stack %s: %v", name, err)
	}
	return st
}

func record(t testing.TB, st *stackfile.Stack, cfg map[string]string, preview bool) (*recorder.Plan, error) {
	t.Helper()
	return recorder.Run(stacks.Program, recorder.Options{Project: st.Project, Stack: st.Name, Config: cfg, SecretKeys: st.SecretKeys, Preview: preview})
}

// everyStackPlan records every stack file as a deployment would (computed
// values simulated) and runs check on each plan in its own subtest.
func everyStackPlan(t *testing.T, check func(t *testing.T, plan *recorder.Plan)) {
	t.Helper()
	for _, name := range stackNames(t) {
		t.Run(name, func(t *testing.T) {
			st := loadStack(t, name)
			plan, err := record(t, st, st.Config, false)
			if err != nil {
				t.Fatal(err)
			}
			check(t, plan)
		})
	}
}

func stackNames(t testing.TB) []string {
	t.Helper()
	names, err := stackfile.Stacks(projectDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 2 {
		t.Fatalf("found stack files %v, want at least dev and prod", names)
	}
	return names
}

// TestEveryStackFile loads each Pulumi.<stack>.yaml with the Pulumi SDK's
// workspace loader, validates it and records it in both modes.
func TestEveryStackFile(t *testing.T) {
	for _, name := range stackNames(t) {
		t.Run(name, func(t *testing.T) {
			st := loadStack(t, name)
			for _, preview := range []bool{true, false} {
				plan, err := record(t, st, st.Config, preview)
				if err != nil {
					t.Fatalf("preview=%v: %v", preview, err)
				}
				checkInvariants(t, plan)
			}
		})
	}
}

// TestDevValues checks that the dev plan carries Pulumi.dev.yaml's values:
// the worker, the queue, the subscription and the outputs a producer reads.
func TestDevValues(t *testing.T) {
	st := loadStack(t, "dev")
	plan, err := record(t, st, st.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	svc := plantest.Find(t, plan, "gcp:cloudrunv2/service:Service", "worker")
	plantest.Inputs(t, svc, map[string]any{
		"name":                                   "worker",
		"location":                               "asia-northeast1",
		"ingress":                                "INGRESS_TRAFFIC_ALL",
		"template.maxInstanceRequestConcurrency": 80.0,
		"template.containers.0.resources.limits.cpu":    "1000m",
		"template.containers.0.resources.limits.memory": "512Mi",
		"template.containers.0.image":                   "asia-docker.pkg.dev/asyncjobs-dev/sample/flask:ver1",
		"template.containers.0.ports.0.containerPort":   8080.0,
		"template.scaling.maxInstanceCount":             1.0,
		"template.timeout":                              "3600s",
	})
	q := plantest.Find(t, plan, "gcp:cloudtasks/queue:Queue", "queue-sample-queue")
	plantest.Inputs(t, q, map[string]any{
		"name":                                   "sample-queue",
		"location":                               "asia-northeast1",
		"rateLimits.maxDispatchesPerSecond":      500.0,
		"rateLimits.maxConcurrentDispatches":     1000.0,
		"retryConfig.maxAttempts":                10.0,
		"retryConfig.minBackoff":                 "10s",
		"retryConfig.maxBackoff":                 "3600s",
		"retryConfig.maxDoublings":               3.0,
		"stackdriverLoggingConfig.samplingRatio": 1.0,
	})
	sub := plantest.Find(t, plan, "gcp:pubsub/subscription:Subscription", "topic-jobs-jobs-worker")
	plantest.Inputs(t, sub, map[string]any{
		"messageRetentionDuration":             "604800s",
		"deadLetterPolicy.maxDeliveryAttempts": 5.0,
	})

	// The stack exports what a producer needs to build a task.
	queues, _ := plan.Outputs["queues"].(map[string]any)
	out, _ := queues["sample-queue"].(map[string]any)
	for k, v := range map[string]any{
		"queuePath":              "projects/asyncjobs-dev/locations/asia-northeast1/queues/sample-queue",
		"workerUrl":              "https://worker-simulated-an.a.run.app",
		"audience":               "https://worker-simulated-an.a.run.app",
		"invokerServiceAccount":  "sample-queue-invoker@asyncjobs-dev.iam.gserviceaccount.com",
		"enqueuerServiceAccount": "sample-queue-enqueuer@asyncjobs-dev.iam.gserviceaccount.com",
		"workerTimeoutSeconds":   3600.0,
	} {
		if out[k] != v {
			t.Errorf("output queues.sample-queue.%s = %#v, want %#v", k, out[k], v)
		}
	}
	dl, _ := plan.Outputs["deadLetters"].(map[string]any)
	pair, _ := dl["jobs/jobs-worker"].(map[string]any)
	for k, v := range map[string]any{
		"topic":                  "projects/asyncjobs-dev/topics/jobs",
		"subscription":           "projects/asyncjobs-dev/subscriptions/jobs-worker",
		"deadLetterTopic":        "projects/asyncjobs-dev/topics/jobs-worker-dead-letter",
		"deadLetterSubscription": "projects/asyncjobs-dev/subscriptions/jobs-worker-dead-letter",
	} {
		if pair[k] != v {
			t.Errorf("output deadLetters.jobs/jobs-worker.%s = %#v, want %#v", k, pair[k], v)
		}
	}
}

// TestProtectionComesFromConfig: a protected stack (prod) protects every
// resource, so a refused destroy deletes nothing that serving or alerting
// depends on (grants, accounts, workloads, alerts too, not only the data);
// an unprotected one (dev) none; and flipping the key alone flips it. A
// created cluster's deletion protection (GKE's own) follows the same key.
func TestProtectionComesFromConfig(t *testing.T) {
	for _, tc := range []struct {
		stack   string
		protect string
		want    bool
	}{{"prod", "", true}, {"dev", "", false}, {"dev", "true", true}, {"prod", "false", false}} {
		t.Run(tc.stack+"/"+tc.protect, func(t *testing.T) {
			st := loadStack(t, tc.stack)
			cfg := copyConfig(st.Config)
			if tc.protect != "" {
				cfg["asyncjobs:protect"] = tc.protect
			}
			plan, err := record(t, st, cfg, true)
			if err != nil {
				t.Fatal(err)
			}
			n, clusters := 0, 0
			for _, r := range plan.Resources {
				if strings.HasPrefix(r.Type, "asyncjobs:") {
					continue // components: nothing to delete
				}
				n++
				if r.Protect != tc.want {
					t.Errorf("%s %s protect = %v, want %v", r.Type, r.Name, r.Protect, tc.want)
				}
				if r.Type == "gcp:container/cluster:Cluster" {
					clusters++
					plantest.Input(t, r, "deletionProtection", tc.want)
				}
			}
			if n < 40 {
				t.Fatalf("only %d resources in the plan", n)
			}
			if want := map[string]int{"prod": 1, "dev": 0}[tc.stack]; clusters != want {
				t.Errorf("%d created clusters, want %d", clusters, want)
			}
		})
	}
}

// TestNameSuffixMakesEveryPhysicalNameUnique: a test stack re-created with a
// fresh suffix shares no physical name with the previous one.
func TestNameSuffixMakesEveryPhysicalNameUnique(t *testing.T) {
	st := loadStack(t, "dev")
	names := func(suffix string) map[string]string {
		cfg := copyConfig(st.Config)
		cfg["asyncjobs:nameSuffix"] = suffix
		plan, err := record(t, st, cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range plan.Resources {
			for _, k := range []string{"name", "accountId"} {
				if v, ok := r.Inputs[k].(string); ok && v != recorder.Computed && !plantestIsGrant(r.Type) {
					out[r.URN] = v
				}
			}
		}
		return out
	}
	a, b := names("a1"), names("b2")
	if len(a) < 9 {
		t.Fatalf("only %d physical names found", len(a))
	}
	for urn, n := range a {
		if !strings.HasSuffix(n, "-a1") {
			t.Errorf("%s: physical name %q lacks the suffix", urn, n)
		}
		if b[urn] == n {
			t.Errorf("%s: physical name %q is the same for two suffixes", urn, n)
		}
	}
}

func plantestIsGrant(typ string) bool { return strings.Contains(strings.ToLower(typ), "iammember") }

func copyConfig(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// setIn changes one value inside a JSON configuration value; path is
// dot-separated with list indexes ("0.retry.maxDoublings"). A nil value
// deletes the key.
func setIn(t testing.TB, cfg map[string]string, key, path string, value any) {
	t.Helper()
	var root any
	if raw, ok := cfg[key]; ok {
		if err := json.Unmarshal([]byte(raw), &root); err != nil {
			t.Fatalf("%s is not JSON: %v", key, err)
		}
	}
	if path == "" {
		root = value
	} else {
		parts := strings.Split(path, ".")
		cur := root
		for i, p := range parts {
			last := i == len(parts)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					if value == nil {
						delete(c, p)
					} else {
						c[p] = value
					}
				} else {
					if _, ok := c[p]; !ok {
						c[p] = map[string]any{}
					}
					cur = c[p]
				}
			case []any:
				idx, err := strconv.Atoi(p)
				if err != nil || idx >= len(c) {
					t.Fatalf("bad index %s in %s", p, path)
				}
				if last {
					c[idx] = value
				} else {
					cur = c[idx]
				}
			default:
				t.Fatalf("cannot descend into %s at %s", key, p)
			}
		}
	}
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg[key] = string(b)
}

func ExampleConfigError() {
	_, err := stacks.Load("dev", stacks.Source{
		"gcp:project":         "asyncjobs-dev",
		"asyncjobs:region":    "asia-northeast1",
		"asyncjobs:worker":    `{"image": "gcr.io/p/app:1"}`,
		"asyncjobs:queues":    `[{"name": "q-1", "retry": {"maxDoublings": -1}}]`,
		"asyncjobs:nameSufix": "x",
	})
	fmt.Println(err)
	// Output:
	// invalid configuration (2 problems):
	//   asyncjobs:nameSufix: Not found: unknown key (did you mean "nameSuffix"?)
	//   asyncjobs:queues[0].retry.maxDoublings: Invalid value: -1: must be >= 0
}
