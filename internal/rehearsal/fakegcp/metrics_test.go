package fakegcp

import (
	"context"
	"strings"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// absencePolicy is an alert policy whose absence condition reads the
// log-based metric name, of clusters in project.
func absencePolicy(name, project string) map[string]any {
	return map[string]any{"displayName": "overdue", "combiner": "OR", "conditions": []any{map[string]any{
		"displayName": "c",
		"conditionAbsent": map[string]any{
			"filter":   `metric.type="logging.googleapis.com/user/` + name + `" AND resource.type="k8s_cluster" AND resource.label.project_id="` + project + `"`,
			"duration": "120s",
		},
	}}}
}

const notFoundPrefix = `Error creating AlertPolicy: googleapi: Error 404: Cannot find metric(s) that match type = "logging.googleapis.com/user/`

func wantMetric404(t *testing.T, err error, metric string) {
	t.Helper()
	want := notFoundPrefix + metric + `". If a metric was created recently, it could take up to 10 minutes to become available.`
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want NotFound with %q", err, want)
	}
}

// TestAlertPolicyWaitsForItsMetric: a policy reading a log-based metric
// made in the same update gets Google's 404; after the delay it is
// created; a policy reading no user metric never waits.
func TestAlertPolicyWaitsForItsMetric(t *testing.T) {
	f := newFixture(t)
	f.mustCreate(f.s, tMetric, "m", map[string]any{"name": "completed", "filter": "x"})
	if r, _ := f.store().Get(tMetric, "completed"); !r.Created.Equal(f.now) {
		t.Fatalf("metric created at %v, want %v", r.Created, f.now)
	}

	_, _, err := f.create(f.s, tPolicy, "p", absencePolicy("completed", testProject))
	wantMetric404(t, err, "completed")
	if n := len(f.store().ByType(tPolicy)); n != 0 {
		t.Fatalf("%d policies stored after the 404", n)
	}
	// A threshold's denominator is read too.
	ratio := map[string]any{"displayName": "d", "combiner": "OR", "conditions": []any{map[string]any{"displayName": "c",
		"conditionThreshold": map[string]any{"filter": `metric.type="run.googleapis.com/request_count"`,
			"denominatorFilter": `metric.type = "logging.googleapis.com/user/completed"`}}}}
	_, _, err = f.create(f.s, tPolicy, "ratio", ratio)
	wantMetric404(t, err, "completed")

	f.now = f.now.Add(DefaultMetricDelay - time.Second)
	_, _, err = f.create(f.s, tPolicy, "p", absencePolicy("completed", testProject))
	wantMetric404(t, err, "completed")

	f.now = f.now.Add(time.Second)
	f.mustCreate(f.s, tPolicy, "p", absencePolicy("completed", testProject))

	// Never created, however long one waits.
	f.now = f.now.Add(24 * time.Hour)
	_, _, err = f.create(f.s, tPolicy, "q", absencePolicy("never-made", testProject))
	wantMetric404(t, err, "never-made")

	// Built-in metrics and log-match conditions need no log-based metric.
	f.mustCreate(f.s, tPolicy, "builtin", map[string]any{"displayName": "d", "combiner": "OR", "conditions": []any{map[string]any{
		"displayName": "c", "conditionThreshold": map[string]any{"filter": `metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"`}}}})
	f.mustCreate(f.s, tPolicy, "logmatch", map[string]any{"displayName": "d", "combiner": "OR", "conditions": []any{map[string]any{
		"displayName": "c", "conditionMatchedLog": map[string]any{"filter": `logName="projects/proj-a/logs/events"`}}}})
}

// TestAlertPolicyMetricProject: the metric may live in the policy's
// project or in the project the filter names (a cluster's project), not in
// some other project.
func TestAlertPolicyMetricProject(t *testing.T) {
	f := newFixture(t)
	f.mustCreate(f.s, tMetric, "m", map[string]any{"project": "proj-gke", "name": "completed", "filter": "x"})
	f.mustCreate(f.s, tMetric, "elsewhere", map[string]any{"project": "proj-other", "name": "other", "filter": "x"})
	f.now = f.now.Add(time.Hour)
	f.mustCreate(f.s, tPolicy, "p", absencePolicy("completed", "proj-gke"))
	_, _, err := f.create(f.s, tPolicy, "q", absencePolicy("other", "proj-gke"))
	wantMetric404(t, err, "other")
}

// TestAlertPolicyUpdateWaitsForItsMetric: switching a policy to a new
// metric is refused the same way.
func TestAlertPolicyUpdateWaitsForItsMetric(t *testing.T) {
	f := newFixture(t)
	f.mustCreate(f.s, tMetric, "old", map[string]any{"name": "old", "filter": "x"})
	f.now = f.now.Add(time.Hour)
	id, outs := f.mustCreate(f.s, tPolicy, "p", absencePolicy("old", testProject))
	f.mustCreate(f.s, tMetric, "new", map[string]any{"name": "new", "filter": "x"})
	news := absencePolicy("new", testProject)
	news["__defaults"] = []any{}
	update := func() error {
		_, err := f.s.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn(tPolicy, "p"), Type: tPolicy, Id: id,
			Olds: pbProps(t, outs), OldInputs: pbProps(t, outs), News: pb(t, news)})
		return err
	}
	err := update()
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), `Error updating AlertPolicy: googleapi: Error 404: Cannot find metric(s) that match type = "logging.googleapis.com/user/new"`) {
		t.Fatalf("update onto a new metric: %v", err)
	}
	f.now = f.now.Add(DefaultMetricDelay)
	if err := update(); err != nil {
		t.Fatalf("update after the delay: %v", err)
	}
}

// TestMetricDelayEnv: the harness sets the delay; a bad value fails
// loudly.
func TestMetricDelayEnv(t *testing.T) {
	f := newFixture(t)
	f.env[MetricDelayEnv] = "0s"
	f.mustCreate(f.s, tMetric, "m", map[string]any{"name": "completed", "filter": "x"})
	f.mustCreate(f.s, tPolicy, "p", absencePolicy("completed", testProject))

	f.env[MetricDelayEnv] = "1h"
	f.now = f.now.Add(59 * time.Minute)
	_, _, err := f.create(f.s, tPolicy, "q", absencePolicy("completed", testProject))
	wantMetric404(t, err, "completed")

	f.env[MetricDelayEnv] = "ten minutes"
	_, _, err = f.create(f.s, tPolicy, "r", absencePolicy("completed", testProject))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), MetricDelayEnv) {
		t.Fatalf("bad delay: %v", err)
	}
}

// TestSeedMetric: a metric seeded as made long ago (the bootstrap's) is
// readable at once; one seeded just now is not.
func TestSeedMetric(t *testing.T) {
	f := newFixture(t)
	if err := SeedMetric(f.dir, "proj-gke", "completed", map[string]any{"filter": "x"}, f.now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := SeedMetric(f.dir, "proj-gke", "fresh", nil, f.now); err != nil {
		t.Fatal(err)
	}
	r, ok := f.store().Get(tMetric, "completed")
	if !ok || r.Key != "projects/proj-gke/metrics/completed" || r.Project != "proj-gke" || len(r.Holders) != 0 || r.Inputs["filter"] != "x" {
		t.Fatalf("seeded metric %+v", r)
	}
	f.mustCreate(f.s, tPolicy, "p", absencePolicy("completed", "proj-gke"))
	_, _, err := f.create(f.s, tPolicy, "q", absencePolicy("fresh", "proj-gke"))
	wantMetric404(t, err, "fresh")
	if err := SeedMetric(f.dir, "proj-gke", "completed", nil, f.now); err == nil {
		t.Error("seeding an existing metric again succeeded")
	}
}
