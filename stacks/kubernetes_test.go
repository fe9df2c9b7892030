package stacks_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/manifests"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/testenv/kubeenv"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// TestManifestsAdmittedByARealAPIServer applies every Kubernetes object of
// every stack file to a real kube-apiserver with server-side dry-run and
// strict field validation. Any rejection fails the test.
func TestManifestsAdmittedByARealAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	ctx := context.Background()
	for _, name := range stackNames(t) {
		t.Run(name, func(t *testing.T) {
			st := loadStack(t, name)
			plan, err := record(t, st, st.Config, false)
			if err != nil {
				t.Fatal(err)
			}
			objects := manifests.FromPlan(plan)
			kinds := map[string]int{}
			for _, o := range objects {
				kinds[o.Kind()]++
				if o.Kind() == "Namespace" {
					if err := env.Create(ctx, o.Body); err != nil && !kubeenv.IsReason(err, "AlreadyExists") {
						t.Fatalf("namespace %s: %v", o.Name(), err)
					}
					continue
				}
				if err := env.DryRunApply(ctx, o.Body); err != nil {
					t.Errorf("%s %s/%s rejected: %v", o.Kind(), o.Namespace(), o.Name(), err)
				}
			}
			for _, k := range []string{"Namespace", "ServiceAccount", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "CronJob"} {
				if kinds[k] == 0 {
					t.Errorf("stack %s has no %s to check", name, k)
				}
			}
		})
	}
}

// TestOurValidationRejectsFirst: for each class of rejection the API server
// makes, the same mistake in the configuration is refused by our validation
// with its key path, and the API server does reject the object it would give.
func TestOurValidationRejectsFirst(t *testing.T) {
	env := kubeenv.Start(t)
	ctx := context.Background()
	st := loadStack(t, "dev")
	plan, err := record(t, st, st.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range manifests.FromPlan(plan) {
		if o.Kind() == "Namespace" {
			if err := env.Create(ctx, o.Body); err != nil && !kubeenv.IsReason(err, "AlreadyExists") {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name      string
		kind      string
		config    func(*testing.T, map[string]string)
		path      string
		manifest  func(map[string]any)
		apiReason string
	}{
		{"indexed without completions", "CronJob",
			set("asyncjobs:cronJobs", "0.completions", 0.0), "asyncjobs:cronJobs[0].completions",
			func(o map[string]any) { drop(o, "spec.jobTemplate.spec.completions") }, "completions"},
		{"invalid schedule", "CronJob",
			set("asyncjobs:cronJobs", "0.schedule", "61 * * * *"), "asyncjobs:cronJobs[0].schedule",
			func(o map[string]any) { put(o, "spec.schedule", "61 * * * *") }, "schedule"},
		{"TZ in schedule", "CronJob",
			set("asyncjobs:cronJobs", "0.schedule", "TZ=Asia/Tokyo 0 3 * * *"), "asyncjobs:cronJobs[0].schedule",
			func(o map[string]any) { put(o, "spec.schedule", "TZ=Asia/Tokyo 0 3 * * *") }, "schedule"},
		{"unknown time zone", "CronJob",
			set("asyncjobs:cronJobs", "0.timeZone", "Mars/Olympus"), "asyncjobs:cronJobs[0].timeZone",
			func(o map[string]any) { put(o, "spec.timeZone", "Mars/Olympus") }, "timeZone"},
		{"restart policy Always", "CronJob",
			set("asyncjobs:cronJobs", "0.restartPolicy", "Always"), "asyncjobs:cronJobs[0].restartPolicy",
			func(o map[string]any) { put(o, "spec.jobTemplate.spec.template.spec.restartPolicy", "Always") }, "restartPolicy"},
		{"concurrency policy unknown", "CronJob",
			set("asyncjobs:cronJobs", "0.concurrencyPolicy", "Queue"), "asyncjobs:cronJobs[0].concurrencyPolicy",
			func(o map[string]any) { put(o, "spec.concurrencyPolicy", "Queue") }, "concurrencyPolicy"},
		{"name too long", "CronJob",
			set("asyncjobs:cronJobs", "0.name", strings.Repeat("c", 53)), "asyncjobs:cronJobs[0].name",
			func(o map[string]any) { put(o, "metadata.name", strings.Repeat("c", 53)) }, "52"},
		{"negative backoff limit", "CronJob",
			set("asyncjobs:cronJobs", "0.backoffLimit", -1.0), "asyncjobs:cronJobs[0].backoffLimit",
			func(o map[string]any) { put(o, "spec.jobTemplate.spec.backoffLimit", -1) }, "backoffLimit"},
		{"negative active deadline", "CronJob",
			set("asyncjobs:cronJobs", "0.activeDeadlineSeconds", -5.0), "asyncjobs:cronJobs[0].activeDeadlineSeconds",
			func(o map[string]any) { put(o, "spec.jobTemplate.spec.activeDeadlineSeconds", -5) }, "activeDeadlineSeconds"},
		{"request above limit", "CronJob",
			set("asyncjobs:cronJobs", "0.container.resources.requests.cpu", "2"), "asyncjobs:cronJobs[0].container.resources.requests.cpu",
			func(o map[string]any) {
				put(o, "spec.jobTemplate.spec.template.spec.containers.0.resources.requests.cpu", "2")
			}, "must be less than or equal to cpu limit"},
		{"min above max replicas", "HorizontalPodAutoscaler",
			func(t *testing.T, cfg map[string]string) {
				set("asyncjobs:subscribers", "0.minReplicas", 11.0)(t, cfg)
			}, "asyncjobs:subscribers[0].maxReplicas",
			func(o map[string]any) { put(o, "spec.minReplicas", 11) }, "maxReplicas"},
		{"zero min replicas", "HorizontalPodAutoscaler",
			set("asyncjobs:subscribers", "0.minReplicas", 0.0), "asyncjobs:subscribers[0].minReplicas",
			func(o map[string]any) { put(o, "spec.minReplicas", 0) }, "minReplicas"},
		{"bad deployment name", "Deployment",
			set("asyncjobs:subscribers", "0.name", "Jobs_Subscriber"), "asyncjobs:subscribers[0].name",
			func(o map[string]any) { put(o, "metadata.name", "Jobs_Subscriber") }, "metadata.name"},
		{"negative parallelism", "CronJob",
			set("asyncjobs:cronJobs", "0.parallelism", -1.0), "asyncjobs:cronJobs[0].parallelism",
			func(o map[string]any) { put(o, "spec.jobTemplate.spec.parallelism", -1) }, "parallelism"},
		{"negative starting deadline", "CronJob",
			set("asyncjobs:cronJobs", "0.startingDeadlineSeconds", -1.0), "asyncjobs:cronJobs[0].startingDeadlineSeconds",
			func(o map[string]any) { put(o, "spec.startingDeadlineSeconds", -1) }, "startingDeadlineSeconds"},
		{"negative history limit", "CronJob",
			set("asyncjobs:cronJobs", "0.failedJobsHistoryLimit", -1.0), "asyncjobs:cronJobs[0].failedJobsHistoryLimit",
			func(o map[string]any) { put(o, "spec.failedJobsHistoryLimit", -1) }, "failedJobsHistoryLimit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := copyConfig(st.Config)
			tc.config(t, cfg)
			_, err := stacks.Load(st.Name, stacks.Source(cfg))
			cfgErr, ok := err.(*stacks.ConfigError)
			if !ok {
				t.Fatalf("our validation accepted the configuration (%v)", err)
			}
			found := false
			for _, e := range cfgErr.Errs {
				found = found || e.Field == tc.path
			}
			if !found {
				t.Errorf("no error at %s:\n%v", tc.path, cfgErr)
			}

			obj := objectOf(t, plan, tc.kind)
			tc.manifest(obj)
			apiErr := env.DryRunApply(ctx, obj)
			if apiErr == nil {
				t.Fatalf("the API server admitted the object our validation refuses")
			}
			if !strings.Contains(apiErr.Error(), tc.apiReason) {
				t.Errorf("API server error lacks %q: %v", tc.apiReason, apiErr)
			}
		})
	}
}

// objectOf returns a deep copy of the first object of a kind.
func objectOf(t *testing.T, plan *recorder.Plan, kind string) map[string]any {
	t.Helper()
	for _, o := range manifests.FromPlan(plan) {
		if o.Kind() == kind {
			b, _ := json.Marshal(o.Body)
			var c map[string]any
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatalf("no %s in the plan", kind)
	return nil
}

func put(o map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	cur := any(o)
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = v
				return
			}
			cur = c[p]
		case []any:
			idx := int(p[0] - '0')
			if last {
				c[idx] = v
				return
			}
			cur = c[idx]
		}
	}
}

func drop(o map[string]any, path string) {
	parts := strings.Split(path, ".")
	cur := o
	for _, p := range parts[:len(parts)-1] {
		cur = cur[p].(map[string]any)
	}
	delete(cur, parts[len(parts)-1])
}
