package fakegcp

import (
	"context"
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestDiff(t *testing.T) {
	userNamed := []any{}       // __defaults of a resource whose name the program set
	autoNamed := []any{"name"} // __defaults of an autonamed one
	sub := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{
			"name": "jobs-worker", "project": testProject, "topic": "projects/proj-a/topics/jobs",
			"ackDeadlineSeconds": 60, "enableMessageOrdering": false, "enableExactlyOnceDelivery": false,
			"filter": "", "labels": map[string]any{"environment": "dev"}, "__defaults": userNamed,
		}
		if mod != nil {
			mod(m)
		}
		return m
	}
	queue := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{
			"name": "sample-queue", "location": testRegion, "project": testProject,
			"retryConfig": map[string]any{"maxAttempts": 10, "maxDoublings": 3, "minBackoff": "10s"},
			"rateLimits":  map[string]any{"maxDispatchesPerSecond": 500},
			"__defaults":  userNamed,
		}
		if mod != nil {
			mod(m)
		}
		return m
	}
	member := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"project": testProject, "topic": "jobs", "role": "roles/pubsub.publisher",
			"member": "serviceAccount:a@proj-a.iam.gserviceaccount.com", "__defaults": userNamed}
		if mod != nil {
			mod(m)
		}
		return m
	}
	metric := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"name": "cron-failed", "filter": "a", "__defaults": userNamed,
			"metricDescriptor": map[string]any{"metricKind": "DELTA", "valueType": "INT64",
				"labels": []any{map[string]any{"key": "cronjob", "valueType": "STRING"}}}}
		if mod != nil {
			mod(m)
		}
		return m
	}

	tests := []struct {
		name         string
		typ          string
		olds, news   map[string]any
		changes      bool
		replaces     []string
		dbr          bool
		detailedPath string
		detailedKind pulumirpc.PropertyDiff_Kind
	}{
		{name: "no change", typ: tSubscription, olds: sub(nil), news: sub(nil)},
		{name: "subscription filter replaces, name set so delete first", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["filter"] = `attributes.kind="a"` }),
			changes: true, replaces: []string{"filter"}, dbr: true,
			detailedPath: "filter", detailedKind: pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{name: "subscription filter on autonamed subscription: create first", typ: tSubscription,
			olds:    sub(func(m map[string]any) { m["__defaults"] = autoNamed }),
			news:    sub(func(m map[string]any) { m["__defaults"] = autoNamed; m["filter"] = "x" }),
			changes: true, replaces: []string{"filter"}, dbr: false},
		{name: "subscription ackDeadlineSeconds in place", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["ackDeadlineSeconds"] = 30 }),
			changes: true, detailedPath: "ackDeadlineSeconds", detailedKind: pulumirpc.PropertyDiff_UPDATE},
		{name: "subscription ackDeadlineSeconds dropped keeps Google's value", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { delete(m, "ackDeadlineSeconds") })},
		{name: "subscription exactly-once in place", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["enableExactlyOnceDelivery"] = true }), changes: true},
		{name: "subscription ordering replaces", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["enableMessageOrdering"] = true }),
			changes: true, replaces: []string{"enableMessageOrdering"}, dbr: true},
		{name: "subscription topic unknown in preview replaces", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["topic"] = resource.Computed{Element: resource.NewStringProperty("")} }),
			changes: true, replaces: []string{"topic"}, dbr: true},
		{name: "subscription label added in place", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["labels"] = map[string]any{"environment": "dev", "team": "x"} }),
			changes: true, detailedPath: "labels.team", detailedKind: pulumirpc.PropertyDiff_ADD},
		{name: "same value made secret is no change", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["filter"] = resource.MakeSecret(resource.NewStringProperty("")) })},
		{name: "project dropped equals provider project", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { delete(m, "project") })},
		{name: "project changed replaces", typ: tSubscription,
			olds: sub(nil), news: sub(func(m map[string]any) { m["project"] = "proj-b" }),
			changes: true, replaces: []string{"project"}, dbr: true},
		{name: "queue maxDoublings in place", typ: tQueue,
			olds: queue(nil), news: queue(func(m map[string]any) {
				m["retryConfig"] = map[string]any{"maxAttempts": 10, "maxDoublings": 4, "minBackoff": "10s"}
			}),
			changes: true, detailedPath: "retryConfig.maxDoublings", detailedKind: pulumirpc.PropertyDiff_UPDATE},
		{name: "queue location replaces", typ: tQueue,
			olds: queue(nil), news: queue(func(m map[string]any) { m["location"] = "us-central1" }),
			changes: true, replaces: []string{"location"}, dbr: true},
		{name: "queue name replaces", typ: tQueue,
			olds: queue(nil), news: queue(func(m map[string]any) { m["name"] = "other" }),
			changes: true, replaces: []string{"name"}, dbr: true},
		{name: "IAM member role replaces, create first (v7.38)", typ: tTopicIAM,
			olds: member(nil), news: member(func(m map[string]any) { m["role"] = "roles/pubsub.subscriber" }),
			changes: true, replaces: []string{"role"}, dbr: false},
		{name: "IAM member condition added replaces", typ: tTopicIAM,
			olds: member(nil), news: member(func(m map[string]any) {
				m["condition"] = map[string]any{"title": "t", "expression": "true"}
			}),
			changes: true, replaces: []string{"condition"}, detailedPath: "condition",
			detailedKind: pulumirpc.PropertyDiff_ADD_REPLACE},
		{name: "IAM member target replaces", typ: tTopicIAM,
			olds: member(nil), news: member(func(m map[string]any) { m["topic"] = "other" }),
			changes: true, replaces: []string{"topic"}},
		{name: "account displayName in place", typ: tAccount,
			olds: map[string]any{"accountId": "worker-run", "displayName": "a"},
			news: map[string]any{"accountId": "worker-run", "displayName": "b"}, changes: true},
		{name: "account accountId replaces, create first", typ: tAccount,
			olds:    map[string]any{"accountId": "worker-run", "__defaults": userNamed},
			news:    map[string]any{"accountId": "worker-run2", "__defaults": userNamed},
			changes: true, replaces: []string{"accountId"}, dbr: false},
		{name: "project service default disableOnDestroy is no change", typ: tService,
			olds: map[string]any{"service": "run.googleapis.com", "disableOnDestroy": true},
			news: map[string]any{"service": "run.googleapis.com"}},
		{name: "project service service replaces", typ: tService,
			olds: map[string]any{"service": "run.googleapis.com"}, news: map[string]any{"service": "pubsub.googleapis.com"},
			changes: true, replaces: []string{"service"}},
		{name: "cloud run image in place", typ: tRun,
			olds: map[string]any{"name": "worker", "location": testRegion, "__defaults": userNamed,
				"template": map[string]any{"containers": []any{map[string]any{"image": "a:1"}}}},
			news: map[string]any{"name": "worker", "location": testRegion, "__defaults": userNamed,
				"template": map[string]any{"containers": []any{map[string]any{"image": "a:2"}}}},
			changes: true, detailedPath: "template.containers[0].image", detailedKind: pulumirpc.PropertyDiff_UPDATE},
		{name: "cloud run location replaces", typ: tRun,
			olds:    map[string]any{"name": "worker", "location": testRegion, "__defaults": userNamed},
			news:    map[string]any{"name": "worker", "location": "us-central1", "__defaults": userNamed},
			changes: true, replaces: []string{"location"}, dbr: true},
		{name: "metric name is updatable", typ: tMetric,
			olds: metric(nil), news: metric(func(m map[string]any) { m["name"] = "cron-failures" }), changes: true},
		{name: "metric label key replaces", typ: tMetric,
			olds: metric(nil), news: metric(func(m map[string]any) {
				m["metricDescriptor"] = map[string]any{"metricKind": "DELTA", "valueType": "INT64",
					"labels": []any{map[string]any{"key": "job", "valueType": "STRING"}}}
			}),
			changes: true, replaces: []string{"metricDescriptor"}, dbr: true,
			detailedPath: "metricDescriptor.labels[0].key", detailedKind: pulumirpc.PropertyDiff_UPDATE_REPLACE},
		{name: "metric label added replaces", typ: tMetric,
			olds: metric(nil), news: metric(func(m map[string]any) {
				m["metricDescriptor"] = map[string]any{"metricKind": "DELTA", "valueType": "INT64",
					"labels": []any{map[string]any{"key": "cronjob", "valueType": "STRING"}, map[string]any{"key": "ns"}}}
			}),
			changes: true, replaces: []string{"metricDescriptor"}, dbr: true},
		{name: "metric descriptor kind in place", typ: tMetric,
			olds: metric(nil), news: metric(func(m map[string]any) {
				m["metricDescriptor"] = map[string]any{"metricKind": "DELTA", "valueType": "INT64", "unit": "1",
					"labels": []any{map[string]any{"key": "cronjob", "valueType": "STRING"}}}
			}), changes: true},
		{name: "alert policy display name in place", typ: tPolicy,
			olds: map[string]any{"displayName": "a", "combiner": "OR"}, news: map[string]any{"displayName": "b", "combiner": "OR"},
			changes: true},
		{name: "alert policy project replaces, no name so create first", typ: tPolicy,
			olds: map[string]any{"displayName": "a", "project": "proj-a"}, news: map[string]any{"displayName": "a", "project": "proj-b"},
			changes: true, replaces: []string{"project"}},
		{name: "channel type in place", typ: tChannel,
			olds: map[string]any{"type": "email"}, news: map[string]any{"type": "slack"}, changes: true},
		{name: "dashboard json in place", typ: tDashboard,
			olds: map[string]any{"dashboardJson": "{}"}, news: map[string]any{"dashboardJson": `{"a":1}`}, changes: true},
		{name: "cluster autopilot replaces", typ: tCluster,
			olds:    map[string]any{"name": "c", "location": testRegion, "enableAutopilot": true, "__defaults": userNamed},
			news:    map[string]any{"name": "c", "location": testRegion, "enableAutopilot": false, "__defaults": userNamed},
			changes: true, replaces: []string{"enableAutopilot"}, dbr: true},
		{name: "cluster labels in place", typ: tCluster,
			olds:    map[string]any{"name": "c", "location": testRegion, "resourceLabels": map[string]any{"a": "1"}},
			news:    map[string]any{"name": "c", "location": testRegion, "resourceLabels": map[string]any{"a": "2"}},
			changes: true},
		{name: "cluster deletionProtection default true is no change", typ: tCluster,
			olds: map[string]any{"name": "c", "location": testRegion, "deletionProtection": true},
			news: map[string]any{"name": "c", "location": testRegion}},
		{name: "bucket name replaces", typ: tBucket,
			olds:    map[string]any{"name": "b1", "location": "ASIA", "__defaults": userNamed},
			news:    map[string]any{"name": "b2", "location": "ASIA", "__defaults": userNamed},
			changes: true, replaces: []string{"name"}, dbr: true},
		{name: "crypto key rotation in place", typ: tCryptoKey,
			olds: map[string]any{"name": "dev", "keyRing": "kr", "rotationPeriod": "1s"},
			news: map[string]any{"name": "dev", "keyRing": "kr", "rotationPeriod": "2s"}, changes: true},
		{name: "pool id replaces", typ: tPool,
			olds: map[string]any{"workloadIdentityPoolId": "a"}, news: map[string]any{"workloadIdentityPoolId": "b"},
			changes: true, replaces: []string{"workloadIdentityPoolId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp, err := f.s.Diff(context.Background(), &pulumirpc.DiffRequest{
				Urn: urn(tt.typ, "r"), Type: tt.typ, Id: "some-id",
				OldInputs: pb(t, tt.olds), Olds: pb(t, tt.olds), News: pb(t, tt.news),
			})
			if err != nil {
				t.Fatal(err)
			}
			wantChanges := pulumirpc.DiffResponse_DIFF_NONE
			if tt.changes {
				wantChanges = pulumirpc.DiffResponse_DIFF_SOME
			}
			if resp.GetChanges() != wantChanges {
				t.Errorf("changes = %v, want %v (detailed %v)", resp.GetChanges(), wantChanges, resp.GetDetailedDiff())
			}
			if got := resp.GetReplaces(); !reflect.DeepEqual(nonNil(got), nonNil(tt.replaces)) {
				t.Errorf("replaces = %v, want %v (detailed %v)", got, tt.replaces, resp.GetDetailedDiff())
			}
			if resp.GetDeleteBeforeReplace() != tt.dbr {
				t.Errorf("deleteBeforeReplace = %v, want %v", resp.GetDeleteBeforeReplace(), tt.dbr)
			}
			if !resp.GetHasDetailedDiff() {
				t.Error("no detailed diff")
			}
			if tt.detailedPath != "" {
				d, ok := resp.GetDetailedDiff()[tt.detailedPath]
				if !ok {
					t.Fatalf("no detailed diff at %q: %v", tt.detailedPath, resp.GetDetailedDiff())
				}
				if d.GetKind() != tt.detailedKind || !d.GetInputDiff() {
					t.Errorf("detailed diff at %q = %v (input %v), want %v", tt.detailedPath, d.GetKind(), d.GetInputDiff(), tt.detailedKind)
				}
			}
			for _, r := range resp.GetReplaces() {
				found := false
				for _, d := range resp.GetDiffs() {
					found = found || d == r
				}
				if !found {
					t.Errorf("replace %q not among diffs %v", r, resp.GetDiffs())
				}
			}
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestDiffConfig(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		olds, news map[string]any
		changes    bool
	}{
		{map[string]any{"project": "a", "region": "r"}, map[string]any{"project": "a", "region": "r"}, false},
		{map[string]any{"project": "a", "region": "r", "version": "7.38.0"}, map[string]any{"project": "a", "region": "r", "version": "7.39.0"}, false},
		{map[string]any{"project": "a"}, map[string]any{"project": "b"}, true},
		{map[string]any{"project": "a"}, map[string]any{"project": "a", "region": "r"}, true},
	} {
		resp, err := f.s.DiffConfig(context.Background(), &pulumirpc.DiffRequest{OldInputs: pb(t, tt.olds), News: pb(t, tt.news)})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetChanges() == pulumirpc.DiffResponse_DIFF_SOME; got != tt.changes {
			t.Errorf("%v → %v: changes %v, want %v", tt.olds, tt.news, got, tt.changes)
		}
		if len(resp.GetReplaces()) > 0 || resp.GetDeleteBeforeReplace() {
			t.Errorf("provider config change must never replace: %v", resp)
		}
	}
}
