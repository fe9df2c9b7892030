package fakegcp

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	testProject  = "proj-a"
	testRegion   = "asia-northeast1"
	testEndpoint = "127.0.0.1:6443"
)

var testCA = base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not a real certificate")}))

const (
	tTopic        = "gcp:pubsub/topic:Topic"
	tSubscription = "gcp:pubsub/subscription:Subscription"
	tTopicIAM     = "gcp:pubsub/topicIAMMember:TopicIAMMember"
	tSubIAM       = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
	tQueue        = "gcp:cloudtasks/queue:Queue"
	tQueueIAM     = "gcp:cloudtasks/queueIamMember:QueueIamMember"
	tAccount      = "gcp:serviceaccount/account:Account"
	tAccountIAM   = "gcp:serviceaccount/iAMMember:IAMMember"
	tRun          = "gcp:cloudrunv2/service:Service"
	tRunIAM       = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
	tService      = "gcp:projects/service:Service"
	tProjectIAM   = "gcp:projects/iAMMember:IAMMember"
	tMetric       = "gcp:logging/metric:Metric"
	tPolicy       = "gcp:monitoring/alertPolicy:AlertPolicy"
	tChannel      = "gcp:monitoring/notificationChannel:NotificationChannel"
	tDashboard    = "gcp:monitoring/dashboard:Dashboard"
	tCluster      = "gcp:container/cluster:Cluster"
	tBucket       = "gcp:storage/bucket:Bucket"
	tBucketIAM    = "gcp:storage/bucketIAMMember:BucketIAMMember"
	tKeyRing      = "gcp:kms/keyRing:KeyRing"
	tCryptoKey    = "gcp:kms/cryptoKey:CryptoKey"
	tKeyIAM       = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
	tPool         = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
	tPoolProvider = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
)

// fixture is a configured server on a fresh store with a controllable
// clock and environment.
type fixture struct {
	t   *testing.T
	s   *Server
	dir string
	env map[string]string
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.env = map[string]string{ClusterEndpointEnv: testEndpoint, ClusterCAEnv: testCA}
	f.s = New(Options{
		StateDir: f.dir,
		Getenv:   func(k string) string { return f.env[k] },
		Now:      func() time.Time { return f.now },
	})
	f.configure(f.s, map[string]any{"project": testProject, "region": testRegion})
	return f
}

// another returns a second provider process on the same store (another
// stack's plugin).
func (f *fixture) another(project string) *Server {
	s := New(Options{StateDir: f.dir, Getenv: func(k string) string { return f.env[k] }, Now: func() time.Time { return f.now }})
	f.configure(s, map[string]any{"project": project, "region": testRegion})
	return s
}

func (f *fixture) configure(s *Server, args map[string]any) {
	f.t.Helper()
	if _, err := s.Configure(context.Background(), &pulumirpc.ConfigureRequest{Args: pb(f.t, args)}); err != nil {
		f.t.Fatalf("Configure: %v", err)
	}
}

func urn(typ, name string) string {
	return "urn:pulumi:dev::asyncjobs::" + typ + "::" + name
}

func pb(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	return pbProps(t, resource.NewPropertyMapFromMap(m))
}

func pbProps(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func props(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// check runs Check on inputs for a new resource.
func (f *fixture) check(s *Server, typ, name string, in map[string]any) (resource.PropertyMap, []*pulumirpc.CheckFailure) {
	f.t.Helper()
	resp, err := s.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: urn(typ, name), Type: typ, News: pb(f.t, in), Olds: pb(f.t, nil), RandomSeed: []byte(name),
	})
	if err != nil {
		f.t.Fatalf("Check %s: %v", name, err)
	}
	return props(f.t, resp.GetInputs()), resp.GetFailures()
}

// create checks and creates a resource (as the engine would), returning
// its ID and outputs.
func (f *fixture) create(s *Server, typ, name string, in map[string]any) (string, resource.PropertyMap, error) {
	f.t.Helper()
	checked, failures := f.check(s, typ, name, in)
	if len(failures) > 0 {
		f.t.Fatalf("Check %s: failures %v", name, failures)
	}
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: urn(typ, name), Type: typ, Properties: pbProps(f.t, checked),
	})
	if err != nil {
		return "", nil, err
	}
	return resp.GetId(), props(f.t, resp.GetProperties()), nil
}

func (f *fixture) mustCreate(s *Server, typ, name string, in map[string]any) (string, resource.PropertyMap) {
	f.t.Helper()
	id, outs, err := f.create(s, typ, name, in)
	if err != nil {
		f.t.Fatalf("Create %s: %v", name, err)
	}
	return id, outs
}

func (f *fixture) read(s *Server, typ, name, id string, outs resource.PropertyMap) *pulumirpc.ReadResponse {
	f.t.Helper()
	resp, err := s.Read(context.Background(), &pulumirpc.ReadRequest{
		Urn: urn(typ, name), Type: typ, Id: id, Properties: pbProps(f.t, outs),
	})
	if err != nil {
		f.t.Fatalf("Read %s: %v", name, err)
	}
	return resp
}

func (f *fixture) delete(s *Server, typ, name, id string, outs resource.PropertyMap) error {
	f.t.Helper()
	_, err := s.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Urn: urn(typ, name), Type: typ, Id: id, Properties: pbProps(f.t, outs), OldInputs: pbProps(f.t, outs),
	})
	return err
}

func (f *fixture) store() *Store {
	f.t.Helper()
	st, err := LoadStore(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func strOut(m resource.PropertyMap, k string) string {
	v, ok := m[resource.PropertyKey(k)]
	if !ok {
		return ""
	}
	v = unsecret(v)
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}
