package fakegcp

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestPluginInfoAndSchema(t *testing.T) {
	s := New(Options{StateDir: t.TempDir()})
	info, err := s.GetPluginInfo(context.Background(), &emptypb.Empty{})
	if err != nil || info.GetVersion() != "7.38.0" {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}
	schema, err := s.GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if err != nil || !strings.Contains(schema.GetSchema(), `"name":"gcp"`) || !strings.Contains(schema.GetSchema(), "7.38.0") {
		t.Fatalf("GetSchema = %v, %v", schema, err)
	}
	cfg, err := s.Configure(context.Background(), &pulumirpc.ConfigureRequest{
		Variables: map[string]string{"gcp:config:project": "from-vars"},
	})
	if err != nil || !cfg.GetAcceptSecrets() || !cfg.GetSupportsPreview() || !cfg.GetAcceptResources() {
		t.Fatalf("Configure = %v, %v", cfg, err)
	}
	if p, _ := s.config(); p != "from-vars" {
		t.Errorf("project from variables = %q", p)
	}
}

// deps creates what the other resources refer to.
func deps(f *fixture) {
	f.mustCreate(f.s, tTopic, "topic-jobs", map[string]any{"name": "jobs"})
	f.mustCreate(f.s, tTopic, "topic-dl", map[string]any{"name": "jobs-dl"})
	f.mustCreate(f.s, tAccount, "worker-sa", map[string]any{"accountId": "worker-run"})
}

func TestCreateOutputs(t *testing.T) {
	email := "worker-run@proj-a.iam.gserviceaccount.com"
	tests := []struct {
		name   string
		typ    string
		in     map[string]any
		id     string // exact, or a regexp when it starts with ^
		outs   map[string]string
		checks func(t *testing.T, outs resource.PropertyMap)
	}{
		{name: "service account", typ: tAccount, in: map[string]any{"accountId": "jobs-invoker", "displayName": "x"},
			id: "projects/proj-a/serviceAccounts/jobs-invoker@proj-a.iam.gserviceaccount.com",
			outs: map[string]string{
				"email":       "jobs-invoker@proj-a.iam.gserviceaccount.com",
				"member":      "serviceAccount:jobs-invoker@proj-a.iam.gserviceaccount.com",
				"name":        "projects/proj-a/serviceAccounts/jobs-invoker@proj-a.iam.gserviceaccount.com",
				"displayName": "x",
				"project":     "proj-a",
			},
			checks: func(t *testing.T, outs resource.PropertyMap) {
				if !regexp.MustCompile(`^1\d{20}$`).MatchString(strOut(outs, "uniqueId")) {
					t.Errorf("uniqueId = %q", strOut(outs, "uniqueId"))
				}
			}},
		{name: "cloud run service", typ: tRun,
			in: map[string]any{"name": "worker", "location": testRegion,
				"template": map[string]any{"serviceAccount": email, "containers": []any{map[string]any{"image": "img"}}}},
			id: "projects/proj-a/locations/asia-northeast1/services/worker",
			outs: map[string]string{"name": "worker", "uri": CloudRunURI("proj-a", testRegion, "worker"),
				"latestReadyRevision": "^projects/proj-a/locations/asia-northeast1/services/worker/revisions/worker-00001-[a-z]{3}$"},
			checks: func(t *testing.T, outs resource.PropertyMap) {
				if !regexp.MustCompile(`^https://worker-[a-z]{10}-an\.a\.run\.app$`).MatchString(strOut(outs, "uri")) {
					t.Errorf("uri = %q", strOut(outs, "uri"))
				}
			}},
		{name: "queue", typ: tQueue, in: map[string]any{"name": "sample-queue", "location": testRegion},
			id: "projects/proj-a/locations/asia-northeast1/queues/sample-queue", outs: map[string]string{"name": "sample-queue"}},
		{name: "topic", typ: tTopic, in: map[string]any{"name": "orders", "labels": map[string]any{"env": "dev"}},
			id: "projects/proj-a/topics/orders", outs: map[string]string{"name": "orders", "id": "projects/proj-a/topics/orders"},
			checks: func(t *testing.T, outs resource.PropertyMap) {
				if !outs["effectiveLabels"].DeepEquals(resource.NewObjectProperty(resource.PropertyMap{"env": resource.NewStringProperty("dev")})) {
					t.Errorf("effectiveLabels = %v", outs["effectiveLabels"])
				}
			}},
		{name: "subscription", typ: tSubscription,
			in: map[string]any{"name": "jobs-worker", "topic": "projects/proj-a/topics/jobs",
				"deadLetterPolicy": map[string]any{"deadLetterTopic": "projects/proj-a/topics/jobs-dl", "maxDeliveryAttempts": 5}},
			id: "projects/proj-a/subscriptions/jobs-worker",
			outs: map[string]string{"name": "jobs-worker", "topic": "projects/proj-a/topics/jobs",
				"messageRetentionDuration": "604800s"},
			checks: func(t *testing.T, outs resource.PropertyMap) {
				if v := outs["ackDeadlineSeconds"]; !v.IsNumber() || v.NumberValue() != 10 {
					t.Errorf("default ackDeadlineSeconds = %v", v)
				}
			}},
		{name: "subscription with short topic name", typ: tSubscription, in: map[string]any{"name": "s2", "topic": "jobs"},
			id: "projects/proj-a/subscriptions/s2", outs: map[string]string{"topic": "projects/proj-a/topics/jobs"}},
		{name: "topic IAM member", typ: tTopicIAM,
			in:   map[string]any{"topic": "jobs", "role": "roles/pubsub.publisher", "member": "serviceAccount:" + email},
			id:   "projects/proj-a/topics/jobs/roles/pubsub.publisher/serviceAccount:" + email,
			outs: map[string]string{"etag": "^BwY"}},
		{name: "service account IAM member", typ: tAccountIAM,
			in: map[string]any{"serviceAccountId": "projects/proj-a/serviceAccounts/" + email,
				"role": "roles/iam.workloadIdentityUser", "member": "serviceAccount:proj-a.svc.id.goog[ns/ksa]"},
			id: "projects/proj-a/serviceAccounts/" + email + "/roles/iam.workloadIdentityUser/serviceAccount:proj-a.svc.id.goog[ns/ksa]"},
		{name: "project IAM member", typ: tProjectIAM,
			in: map[string]any{"project": "proj-b", "role": "roles/run.admin", "member": "serviceAccount:" + email},
			id: "proj-b/roles/run.admin/serviceAccount:" + email},
		{name: "project service", typ: tService, in: map[string]any{"service": "run.googleapis.com"},
			id: "proj-a/run.googleapis.com", outs: map[string]string{"project": "proj-a"},
			checks: func(t *testing.T, outs resource.PropertyMap) {
				if v := outs["disableOnDestroy"]; !v.IsBool() || !v.BoolValue() {
					t.Errorf("disableOnDestroy default = %v", v)
				}
			}},
		{name: "metric", typ: tMetric, in: map[string]any{"name": "asyncjobs-cronjob-failed", "filter": "x"},
			id: "asyncjobs-cronjob-failed"},
		{name: "notification channel", typ: tChannel, in: map[string]any{"type": "email", "labels": map[string]any{"email_address": "a@b.c"}},
			id: `^projects/proj-a/notificationChannels/\d{19}$`, outs: map[string]string{"name": `^projects/proj-a/notificationChannels/\d{19}$`}},
		{name: "alert policy", typ: tPolicy,
			in: map[string]any{"displayName": "d", "combiner": "OR", "conditions": []any{map[string]any{"displayName": "c"}}},
			id: `^projects/proj-a/alertPolicies/\d{20}$`, outs: map[string]string{"name": `^projects/proj-a/alertPolicies/\d{20}$`},
			checks: func(t *testing.T, outs resource.PropertyMap) {
				c := outs["conditions"].ArrayValue()[0].ObjectValue()
				if !strings.HasPrefix(strOut(c, "name"), strOut(outs, "name")+"/conditions/") {
					t.Errorf("condition name = %q", strOut(c, "name"))
				}
			}},
		{name: "dashboard", typ: tDashboard, in: map[string]any{"dashboardJson": "{}"},
			id: `^projects/` + ProjectNumber("proj-a") + `/dashboards/[0-9a-f-]{36}$`},
		{name: "cluster", typ: tCluster, in: map[string]any{"name": "asyncjobs-prod", "location": testRegion, "enableAutopilot": true},
			id: "projects/proj-a/locations/asia-northeast1/clusters/asyncjobs-prod",
			outs: map[string]string{"endpoint": testEndpoint, "name": "asyncjobs-prod",
				"selfLink": "https://container.googleapis.com/v1beta1/projects/proj-a/locations/asia-northeast1/clusters/asyncjobs-prod"},
			checks: func(t *testing.T, outs resource.PropertyMap) {
				if got := strOut(outs["masterAuth"].ObjectValue(), "clusterCaCertificate"); got != testCA {
					t.Errorf("masterAuth.clusterCaCertificate = %q", got)
				}
				if v := outs["deletionProtection"]; !v.IsBool() || !v.BoolValue() {
					t.Errorf("deletionProtection default = %v", v)
				}
			}},
		{name: "bucket", typ: tBucket, in: map[string]any{"name": "state-bucket", "location": "asia-northeast1"},
			id: "state-bucket", outs: map[string]string{"url": "gs://state-bucket", "location": "ASIA-NORTHEAST1"}},
		{name: "key ring", typ: tKeyRing, in: map[string]any{"name": "secrets", "location": testRegion},
			id: "projects/proj-a/locations/asia-northeast1/keyRings/secrets"},
		{name: "workload identity pool", typ: tPool, in: map[string]any{"workloadIdentityPoolId": "github"},
			id:   "projects/proj-a/locations/global/workloadIdentityPools/github",
			outs: map[string]string{"name": "projects/" + ProjectNumber("proj-a") + "/locations/global/workloadIdentityPools/github"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			deps(f)
			id, outs := f.mustCreate(f.s, tt.typ, "r", tt.in)
			match(t, "id", id, tt.id)
			match(t, "id output", strOut(outs, "id"), tt.id)
			for k, want := range tt.outs {
				match(t, k, strOut(outs, k), want)
			}
			// Every input is an output.
			for k := range tt.in {
				if _, ok := outs[resource.PropertyKey(k)]; !ok {
					t.Errorf("input %q missing from outputs", k)
				}
			}
			if _, ok := outs[defaultsKey]; ok {
				t.Error("__defaults leaked into outputs")
			}
			if tt.checks != nil {
				tt.checks(t, outs)
			}
			r, ok := f.store().Get(tt.typ, id)
			if !ok || len(r.Holders) != 1 || r.Holders[0] != urn(tt.typ, "r") {
				t.Errorf("store entry = %+v, %v", r, ok)
			}
		})
	}
}

func match(t *testing.T, what, got, want string) {
	t.Helper()
	if strings.HasPrefix(want, "^") {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("%s = %q, want match %s", what, got, want)
		}
	} else if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestPreviewCreate(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		typ     string
		in      map[string]any
		known   []string
		unknown []string
	}{
		{tAccount, map[string]any{"accountId": "worker-run"}, []string{"accountId", "project", "disabled"}, []string{"email", "member", "name", "uniqueId", "id"}},
		{tRun, map[string]any{"name": "worker", "location": testRegion, "template": map[string]any{}}, []string{"name", "location"}, []string{"uri", "latestReadyRevision"}},
		{tCluster, map[string]any{"name": "c", "location": testRegion}, []string{"name", "deletionProtection"}, []string{"endpoint", "masterAuth"}},
		{tTopic, map[string]any{"name": "t", "labels": map[string]any{"a": "b"}}, []string{"name", "effectiveLabels"}, []string{"id"}},
	} {
		checked, _ := f.check(f.s, tt.typ, "p", tt.in)
		resp, err := f.s.Create(context.Background(), &pulumirpc.CreateRequest{
			Urn: urn(tt.typ, "p"), Type: tt.typ, Properties: pbProps(t, checked), Preview: true,
		})
		if err != nil {
			t.Fatalf("%s preview: %v", tt.typ, err)
		}
		if resp.GetId() != "" {
			t.Errorf("%s preview id = %q", tt.typ, resp.GetId())
		}
		outs := props(t, resp.GetProperties())
		for _, k := range tt.known {
			if v, ok := outs[resource.PropertyKey(k)]; !ok || v.ContainsUnknowns() {
				t.Errorf("%s preview: %s = %v, want known", tt.typ, k, v)
			}
		}
		for _, k := range tt.unknown {
			if v := outs[resource.PropertyKey(k)]; !v.IsComputed() {
				t.Errorf("%s preview: %s = %v, want unknown", tt.typ, k, v)
			}
		}
	}
	// Preview with unknown inputs works and stores nothing.
	resp, err := f.s.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: urn(tSubscription, "s"), Type: tSubscription, Preview: true,
		Properties: pbProps(t, resource.PropertyMap{"name": resource.NewStringProperty("s"), "topic": unknown()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !props(t, resp.GetProperties())["topic"].IsComputed() {
		t.Error("unknown input not kept unknown")
	}
	if n := len(f.store().Resources()); n != 0 {
		t.Errorf("preview stored %d objects", n)
	}
}

func TestDuplicateNamedResource(t *testing.T) {
	for _, tt := range []struct {
		typ string
		in  map[string]any
	}{
		{tTopic, map[string]any{"name": "jobs"}},
		{tAccount, map[string]any{"accountId": "worker-run"}},
		{tQueue, map[string]any{"name": "q", "location": testRegion}},
		{tRun, map[string]any{"name": "worker", "location": testRegion, "template": map[string]any{}}},
		{tMetric, map[string]any{"name": "m", "filter": "x"}},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			f := newFixture(t)
			f.mustCreate(f.s, tt.typ, "first", tt.in)
			// Another stack's plugin, same project.
			_, _, err := f.create(f.another(testProject), tt.typ, "second", tt.in)
			if status.Code(err) != codes.AlreadyExists ||
				!strings.Contains(err.Error(), "googleapi: Error 409: Resource already exists in the project (resource=") {
				t.Fatalf("second create: %v", err)
			}
			// A different project is a different namespace.
			if _, _, err := f.create(f.another("proj-b"), tt.typ, "third", tt.in); err != nil {
				t.Fatalf("create in another project: %v", err)
			}
		})
	}
}

func TestServerAssignedIDsNeverCollide(t *testing.T) {
	f := newFixture(t)
	in := map[string]any{"displayName": "d", "combiner": "OR", "conditions": []any{}}
	a, _ := f.mustCreate(f.s, tPolicy, "a", in)
	b, _ := f.mustCreate(f.another(testProject), tPolicy, "a", in)
	if a == b {
		t.Fatalf("two alert policies got the same name %q", a)
	}
}

func TestIAMMemberIsAdditive(t *testing.T) {
	f := newFixture(t)
	deps(f)
	in := map[string]any{"topic": "jobs-dl", "role": "roles/pubsub.publisher",
		"member": "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com"}
	other := f.another(testProject)
	id1, outs1 := f.mustCreate(f.s, tTopicIAM, "dev-grant", in)
	id2, outs2 := f.mustCreate(other, tTopicIAM, "prod-grant", in)
	if id1 != id2 {
		t.Fatalf("same binding, different IDs: %q, %q", id1, id2)
	}
	r, ok := f.store().Get(tTopicIAM, id1)
	if !ok || len(r.Holders) != 2 {
		t.Fatalf("binding holders = %+v", r.Holders)
	}
	// Deleting one declaration removes the binding for everyone, as Google does.
	if err := f.delete(f.s, tTopicIAM, "dev-grant", id1, outs1); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.store().Get(tTopicIAM, id1); ok {
		t.Fatal("binding still in the store after delete")
	}
	if got := f.read(other, tTopicIAM, "prod-grant", id2, outs2).GetId(); got != "" {
		t.Fatalf("refresh of the other holder found %q", got)
	}
	// Deleting what is gone succeeds.
	if err := f.delete(other, tTopicIAM, "prod-grant", id2, outs2); err != nil {
		t.Fatal(err)
	}
}

func TestIAMMemberNeedsItsResource(t *testing.T) {
	f := newFixture(t)
	_, _, err := f.create(f.s, tSubIAM, "g", map[string]any{"subscription": "nope", "role": "roles/pubsub.subscriber",
		"member": "serviceAccount:x@proj-a.iam.gserviceaccount.com"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "projects/proj-a/subscriptions/nope") {
		t.Fatalf("grant on a missing subscription: %v", err)
	}
	_, _, err = f.create(f.s, tSubscription, "s", map[string]any{"name": "s", "topic": "missing"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "topic") {
		t.Fatalf("subscription to a missing topic: %v", err)
	}
	_, _, err = f.create(f.s, tRun, "w", map[string]any{"name": "w", "location": testRegion,
		"template": map[string]any{"serviceAccount": "ghost-sa@proj-a.iam.gserviceaccount.com"}})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "service account") {
		t.Fatalf("Cloud Run with a missing service account: %v", err)
	}
}

func TestResourceDeleteDropsItsBindings(t *testing.T) {
	f := newFixture(t)
	deps(f)
	topicID, topicOuts := f.mustCreate(f.s, tTopic, "t", map[string]any{"name": "replaced"})
	grantID, grantOuts := f.mustCreate(f.s, tTopicIAM, "g", map[string]any{"topic": "replaced",
		"role": "roles/pubsub.publisher", "member": "serviceAccount:a@proj-a.iam.gserviceaccount.com"})
	if err := f.delete(f.s, tTopic, "t", topicID, topicOuts); err != nil {
		t.Fatal(err)
	}
	// Recreating the topic (delete-before-replace) does not bring the grant back.
	f.mustCreate(f.s, tTopic, "t", map[string]any{"name": "replaced"})
	if got := f.read(f.s, tTopicIAM, "g", grantID, grantOuts).GetId(); got != "" {
		t.Fatalf("grant survived its topic: %q", got)
	}
}

func TestServiceAccountDelete(t *testing.T) {
	f := newFixture(t)
	deps(f)
	saID, saOuts := f.mustCreate(f.s, tAccount, "sa", map[string]any{"accountId": "pusher"})
	member := "serviceAccount:" + strOut(saOuts, "email")
	grantID, grantOuts := f.mustCreate(f.s, tTopicIAM, "g", map[string]any{"topic": "jobs", "role": "roles/pubsub.publisher", "member": member})
	if err := f.delete(f.s, tAccount, "sa", saID, saOuts); err != nil {
		t.Fatal(err)
	}
	if got := f.read(f.s, tTopicIAM, "g", grantID, grantOuts).GetId(); got != "" {
		t.Fatalf("grant to a deleted account still found: %q", got)
	}
	var deleted bool
	for _, r := range f.store().ByType(tTopicIAM) {
		deleted = deleted || strings.HasPrefix(r.Inputs["member"].(string), "deleted:"+member+"?uid=")
	}
	if !deleted {
		t.Errorf("no deleted: member left in the policy: %+v", f.store().ByType(tTopicIAM))
	}
	_, again := f.mustCreate(f.s, tAccount, "sa", map[string]any{"accountId": "pusher"})
	if strOut(again, "uniqueId") == strOut(saOuts, "uniqueId") {
		t.Error("a recreated service account kept its unique ID")
	}
}

func TestProjectService(t *testing.T) {
	f := newFixture(t)
	other := f.another(testProject)
	keep := map[string]any{"service": "run.googleapis.com", "disableOnDestroy": false}
	id, outs := f.mustCreate(f.s, tService, "api-run", keep)
	_, outs2 := f.mustCreate(other, tService, "api-run-other", map[string]any{"service": "run.googleapis.com"})
	if r, _ := f.store().Get(tService, id); len(r.Holders) != 2 {
		t.Fatalf("holders = %v", r.Holders)
	}
	if err := f.delete(f.s, tService, "api-run", id, outs); err != nil {
		t.Fatal(err)
	}
	r, ok := f.store().Get(tService, id)
	if !ok || len(r.Holders) != 1 {
		t.Fatalf("after a disableOnDestroy=false delete: %+v, %v", r, ok)
	}
	// The other declaration disables the API (default disableOnDestroy).
	if err := f.delete(other, tService, "api-run-other", id, outs2); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.store().Get(tService, id); ok {
		t.Fatal("API still enabled after a disableOnDestroy delete")
	}
}

func TestReadUpdateAfterExternalDelete(t *testing.T) {
	f := newFixture(t)
	id, outs := f.mustCreate(f.s, tTopic, "t", map[string]any{"name": "jobs", "labels": map[string]any{"a": "1"}})
	if got := f.read(f.s, tTopic, "t", id, outs); got.GetId() != id || strOut(props(t, got.GetProperties()), "name") != "jobs" {
		t.Fatalf("read = %v", got)
	}
	// In-place update.
	news := map[string]any{"name": "jobs", "labels": map[string]any{"a": "2"}, "__defaults": []any{}}
	up, err := f.s.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn(tTopic, "t"), Type: tTopic, Id: id,
		Olds: pbProps(t, outs), OldInputs: pbProps(t, outs), News: pb(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if l := props(t, up.GetProperties())["labels"].ObjectValue(); strOut(l, "a") != "2" {
		t.Errorf("updated labels = %v", l)
	}
	if r, _ := f.store().Get(tTopic, id); r.Inputs["labels"].(map[string]any)["a"] != "2" {
		t.Errorf("store not updated: %+v", r)
	}
	if found, err := Remove(f.dir, tTopic, id); err != nil || !found {
		t.Fatalf("Remove = %v, %v", found, err)
	}
	if got := f.read(f.s, tTopic, "t", id, outs).GetId(); got != "" {
		t.Fatalf("read after external delete = %q", got)
	}
	_, err = f.s.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn(tTopic, "t"), Type: tTopic, Id: id,
		Olds: pbProps(t, outs), OldInputs: pbProps(t, outs), News: pb(t, news)})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("update of a deleted topic: %v", err)
	}
	if err := f.delete(f.s, tTopic, "t", id, outs); err != nil {
		t.Fatalf("delete of a deleted topic: %v", err)
	}
}

func TestSubscriptionOfDeletedTopic(t *testing.T) {
	f := newFixture(t)
	deps(f)
	id, outs := f.mustCreate(f.s, tSubscription, "s", map[string]any{"name": "s", "topic": "projects/proj-a/topics/jobs"})
	if _, err := Remove(f.dir, tTopic, "projects/proj-a/topics/jobs"); err != nil {
		t.Fatal(err)
	}
	got := f.read(f.s, tSubscription, "s", id, outs)
	if got.GetId() != id || strOut(props(t, got.GetProperties()), "topic") != "_deleted-topic_" {
		t.Fatalf("read = %v", got)
	}
}

func TestTombstones(t *testing.T) {
	f := newFixture(t)
	in := map[string]any{"name": "sample-queue", "location": testRegion}
	id, outs := f.mustCreate(f.s, tQueue, "q", in)
	if err := f.delete(f.s, tQueue, "q", id, outs); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.create(f.s, tQueue, "q", in)
	if status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "existed too recently") {
		t.Fatalf("recreate within 7 days: %v", err)
	}
	f.now = f.now.Add(8 * 24 * time.Hour)
	if _, _, err := f.create(f.s, tQueue, "q", in); err != nil {
		t.Fatalf("recreate after 8 days: %v", err)
	}
	// Key rings are never deleted.
	krID, krOuts := f.mustCreate(f.s, tKeyRing, "kr", map[string]any{"name": "secrets", "location": testRegion})
	if err := f.delete(f.s, tKeyRing, "kr", krID, krOuts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.create(f.s, tKeyRing, "kr", map[string]any{"name": "secrets", "location": testRegion}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("recreate a key ring: %v", err)
	}
}

func TestClusterDeletionProtection(t *testing.T) {
	f := newFixture(t)
	id, outs := f.mustCreate(f.s, tCluster, "gke", map[string]any{"name": "c", "location": testRegion})
	if err := f.delete(f.s, tCluster, "gke", id, outs); status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(err.Error(), "deletion_protection") {
		t.Fatalf("delete of a protected cluster: %v", err)
	}
	outs["deletionProtection"] = resource.NewBoolProperty(false)
	if err := f.delete(f.s, tCluster, "gke", id, outs); err != nil {
		t.Fatal(err)
	}
}

func TestChannelInUse(t *testing.T) {
	f := newFixture(t)
	chID, chOuts := f.mustCreate(f.s, tChannel, "ch", map[string]any{"type": "email"})
	f.mustCreate(f.s, tPolicy, "p", map[string]any{"displayName": "d", "combiner": "OR", "conditions": []any{},
		"notificationChannels": []any{chID}})
	if err := f.delete(f.s, tChannel, "ch", chID, chOuts); err == nil {
		t.Fatal("deleted a channel an alert policy uses")
	}
	_, _, err := f.create(f.s, tPolicy, "p2", map[string]any{"displayName": "d", "combiner": "OR", "conditions": []any{},
		"notificationChannels": []any{"projects/proj-a/notificationChannels/1"}})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("policy with a missing channel: %v", err)
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	// Autonaming, stable for the engine's seed.
	in, fails := f.check(f.s, tTopic, "topic-jobs", map[string]any{})
	name := strOut(in, "name")
	if !regexp.MustCompile(`^topic-jobs-[0-9a-f]{7}$`).MatchString(name) || len(fails) > 0 {
		t.Fatalf("autoname = %q, %v", name, fails)
	}
	if again, _ := f.check(f.s, tTopic, "topic-jobs", map[string]any{}); strOut(again, "name") != name {
		t.Error("autoname not stable for the same seed")
	}
	if d := in[defaultsKey]; !d.IsArray() || len(d.ArrayValue()) != 1 || d.ArrayValue()[0].StringValue() != "name" {
		t.Errorf("__defaults = %v", d)
	}
	set, _ := f.check(f.s, tTopic, "t", map[string]any{"name": "jobs"})
	if d := set[defaultsKey]; !d.IsArray() || len(d.ArrayValue()) != 0 {
		t.Errorf("__defaults of a named topic = %v", d)
	}
	// An update keeps the autonamed name.
	resp, err := f.s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(tTopic, "topic-jobs"), Type: tTopic,
		Olds: pbProps(t, in), News: pb(t, map[string]any{"labels": map[string]any{}}), RandomSeed: []byte("other")})
	if err != nil || strOut(props(t, resp.GetInputs()), "name") != name {
		t.Fatalf("update check = %v, %v", resp, err)
	}

	for _, tt := range []struct {
		typ, prop string
		in        map[string]any
	}{
		{tAccount, "accountId", map[string]any{"accountId": "this-account-id-is-far-too-long-for-google"}},
		{tAccount, "accountId", map[string]any{"accountId": "ab"}},
		{tAccount, "accountId", map[string]any{}},
		{tTopicIAM, "member", map[string]any{"topic": "t", "role": "r", "member": "nobody"}},
		{tTopicIAM, "role", map[string]any{"topic": "t", "member": "user:a@b.c"}},
		{tQueue, "rateLimits.maxBurstSize", map[string]any{"location": testRegion, "rateLimits": map[string]any{"maxBurstSize": 100}}},
		{tSubscription, "topic", map[string]any{"name": "s"}},
	} {
		_, fails := f.check(f.s, tt.typ, "x", tt.in)
		found := false
		for _, fl := range fails {
			found = found || fl.GetProperty() == tt.prop
		}
		if !found {
			t.Errorf("%s %v: failures %v, want one on %s", tt.typ, tt.in, fails, tt.prop)
		}
	}
	if _, fails := f.check(f.s, tAccount, "x", map[string]any{"accountId": "jobs-subscriber-sub"}); len(fails) > 0 {
		t.Errorf("valid account ID refused: %v", fails)
	}
}

func TestUnknownTypeAndFunction(t *testing.T) {
	f := newFixture(t)
	const typ = "gcp:compute/instance:Instance"
	_, err := f.s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(typ, "vm"), News: pb(t, map[string]any{})})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), typ) {
		t.Fatalf("Check of an unknown type: %v", err)
	}
	_, err = f.s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn(typ, "vm"), Properties: pb(t, map[string]any{})})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), typ) {
		t.Fatalf("Create of an unknown type: %v", err)
	}
	_, err = f.s.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "gcp:compute/getNetwork:getNetwork", Args: pb(t, nil)})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "getNetwork") {
		t.Fatalf("unknown invoke: %v", err)
	}
}

func TestInvoke(t *testing.T) {
	f := newFixture(t)
	resp, err := f.s.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "gcp:organizations/getProject:getProject",
		Args: pb(t, map[string]any{"projectId": "asyncjobs-dev"})})
	if err != nil {
		t.Fatal(err)
	}
	ret := props(t, resp.GetReturn())
	num := strOut(ret, "number")
	if !regexp.MustCompile(`^[1-9]\d{11}$`).MatchString(num) || num != ProjectNumber("asyncjobs-dev") ||
		num == ProjectNumber("asyncjobs-prod") {
		t.Errorf("number = %q", num)
	}
	if strOut(ret, "projectId") != "asyncjobs-dev" || strOut(ret, "id") != "projects/asyncjobs-dev" || strOut(ret, "name") == "" {
		t.Errorf("getProject = %v", ret)
	}
	resp, err = f.s.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "gcp:organizations/getProject:getProject", Args: pb(t, nil)})
	if err != nil || strOut(props(t, resp.GetReturn()), "projectId") != testProject {
		t.Errorf("getProject of the provider's project = %v, %v", resp, err)
	}

	resp, err = f.s.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "gcp:container/getCluster:getCluster",
		Args: pb(t, map[string]any{"name": "asyncjobs-dev", "location": testRegion, "project": "asyncjobs-dev"})})
	if err != nil {
		t.Fatal(err)
	}
	ret = props(t, resp.GetReturn())
	if strOut(ret, "endpoint") != testEndpoint || strOut(ret, "name") != "asyncjobs-dev" ||
		strOut(ret, "location") != testRegion || strOut(ret, "project") != "asyncjobs-dev" ||
		strOut(ret, "id") != "projects/asyncjobs-dev/locations/asia-northeast1/clusters/asyncjobs-dev" {
		t.Errorf("getCluster = %v", ret)
	}
	if ca := strOut(ret["masterAuths"].ArrayValue()[0].ObjectValue(), "clusterCaCertificate"); ca != testCA {
		t.Errorf("masterAuths[0].clusterCaCertificate = %q", ca)
	}
}

func TestEnvironmentErrors(t *testing.T) {
	s := New(Options{})
	_, err := s.Configure(context.Background(), &pulumirpc.ConfigureRequest{})
	if err == nil || !strings.Contains(err.Error(), StateDirEnv) {
		t.Fatalf("Configure without a state directory: %v", err)
	}

	for _, env := range []map[string]string{
		{},
		{ClusterEndpointEnv: testEndpoint},
		{ClusterEndpointEnv: testEndpoint, ClusterCAEnv: "not base64!"},
		{ClusterEndpointEnv: testEndpoint, ClusterCAEnv: "bm90IGEgUEVN"},
	} {
		f := newFixture(t)
		f.env = env
		_, err := f.s.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "gcp:container/getCluster:getCluster",
			Args: pb(t, map[string]any{"name": "c"})})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), ClusterCAEnv) {
			t.Errorf("getCluster with %v: %v", env, err)
		}
		_, _, err = f.create(f.s, tCluster, "gke", map[string]any{"name": "c", "location": testRegion})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("cluster create with %v: %v", env, err)
		}
		if n := len(f.store().Resources()); n != 0 {
			t.Errorf("failed create stored %d objects", n)
		}
	}

	// No project anywhere.
	f := newFixture(t)
	f.configure(f.s, map[string]any{})
	_, _, err = f.create(f.s, tTopic, "t", map[string]any{"name": "x"})
	if err == nil || !strings.Contains(err.Error(), "project") {
		t.Fatalf("create without a project: %v", err)
	}
	f.env["GOOGLE_PROJECT"] = "from-env"
	f.configure(f.s, map[string]any{})
	if id, _ := f.mustCreate(f.s, tTopic, "t", map[string]any{"name": "x"}); id != "projects/from-env/topics/x" {
		t.Errorf("project from GOOGLE_PROJECT: id %q", id)
	}
}

func TestSecretsStaySecret(t *testing.T) {
	f := newFixture(t)
	in := resource.PropertyMap{
		"name":       resource.NewStringProperty("jobs"),
		"labels":     resource.NewObjectProperty(resource.PropertyMap{"token": resource.MakeSecret(resource.NewStringProperty("s3cr3t"))}),
		"kmsKeyName": resource.MakeSecret(resource.NewStringProperty("projects/p/locations/l/keyRings/r/cryptoKeys/k")),
	}
	resp, err := f.s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn(tTopic, "t"), Type: tTopic, Properties: pbProps(t, in)})
	if err != nil {
		t.Fatal(err)
	}
	outs := props(t, resp.GetProperties())
	if !outs["kmsKeyName"].IsSecret() || !outs["labels"].ObjectValue()["token"].IsSecret() {
		t.Errorf("create outputs lost secrets: %v", outs)
	}
	read := f.read(f.s, tTopic, "t", resp.GetId(), outs)
	routs := props(t, read.GetProperties())
	if !routs["kmsKeyName"].IsSecret() || !routs["labels"].ObjectValue()["token"].IsSecret() {
		t.Errorf("read outputs lost secrets: %v", routs)
	}
	// Google itself stores the plain value.
	if r, _ := f.store().Get(tTopic, resp.GetId()); r.Inputs["kmsKeyName"] != "projects/p/locations/l/keyRings/r/cryptoKeys/k" {
		t.Errorf("stored = %v", r.Inputs)
	}
}

func TestResourceReferenceInputs(t *testing.T) {
	f := newFixture(t)
	deps(f)
	ref := resource.MakeCustomResourceReference(resource.URN(urn(tTopic, "topic-jobs")), "projects/proj-a/topics/jobs", "7.38.0")
	resp, err := f.s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn(tSubscription, "s"), Type: tSubscription,
		Properties: pbProps(t, resource.PropertyMap{"name": resource.NewStringProperty("s"), "topic": ref})})
	if err != nil {
		t.Fatal(err)
	}
	if got := strOut(props(t, resp.GetProperties()), "topic"); got != "projects/proj-a/topics/jobs" {
		t.Errorf("topic = %q", got)
	}
}

func TestUpdatePreviewKeepsComputed(t *testing.T) {
	f := newFixture(t)
	deps(f)
	in := map[string]any{"name": "worker", "location": testRegion,
		"template": map[string]any{"containers": []any{map[string]any{"image": "a:1"}}}}
	id, outs := f.mustCreate(f.s, tRun, "w", in)
	news := map[string]any{"name": "worker", "location": testRegion, "__defaults": []any{},
		"template": map[string]any{"containers": []any{map[string]any{"image": "a:2"}}}}
	req := &pulumirpc.UpdateRequest{Urn: urn(tRun, "w"), Type: tRun, Id: id,
		Olds: pbProps(t, outs), OldInputs: pb(t, in), News: pb(t, news), Preview: true}
	resp, err := f.s.Update(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := strOut(props(t, resp.GetProperties()), "uri"); got != strOut(outs, "uri") {
		t.Errorf("preview uri = %q", got)
	}
	req.Preview = false
	resp, err = f.s.Update(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	up := props(t, resp.GetProperties())
	if strOut(up, "generation") != "2" || !strings.Contains(strOut(up, "latestReadyRevision"), "/revisions/worker-00002-") {
		t.Errorf("after update: generation %q, revision %q", strOut(up, "generation"), strOut(up, "latestReadyRevision"))
	}
}
