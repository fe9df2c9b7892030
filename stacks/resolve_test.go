package stacks

import "testing"

// TestResolveFillsLocationsOnce: after Load, a queue or cluster without a
// location has the stack's region, an explicit one is kept, and the
// monitoring arguments read the same values as the program.
func TestResolveFillsLocationsOnce(t *testing.T) {
	cfg, err := Load(Source{
		"gcp:project":      "asyncjobs-test",
		"asyncjobs:region": "asia-northeast1",
		"asyncjobs:worker": `{"image": "asia-docker.pkg.dev/asyncjobs-test/r/worker:v1"}`,
		"asyncjobs:queues": `[{"name": "here"}, {"name": "there", "location": "us-central1"}]`,
		"asyncjobs:gke":    `{"name": "cluster"}`,
		"asyncjobs:cronJobs": `[{"name": "report", "schedule": "*/5 * * * *",
			"container": {"image": "asia-docker.pkg.dev/asyncjobs-test/r/report:v1"}}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{cfg.Queues[0].Location, cfg.Queues[1].Location, cfg.GKE.Location}; got[0] != "asia-northeast1" || got[1] != "us-central1" || got[2] != "asia-northeast1" {
		t.Errorf("locations after Load: %v, want [asia-northeast1 us-central1 asia-northeast1]", got)
	}
	args := cfg.monitoringArgs("test")
	if args.Queues[0].Location != "asia-northeast1" || args.Queues[1].Location != "us-central1" || args.Cluster.Location != "asia-northeast1" {
		t.Errorf("monitoring arguments: queues %+v, cluster %+v", args.Queues, args.Cluster)
	}
}
