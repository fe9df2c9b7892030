package stacks

import (
	"strings"
	"testing"
)

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

// namesSource is a configuration with every kind of spec that has
// physical names: a pushing subscription (so the worker's push identity
// exists), a subscriber and CronJobs with and without a Google identity.
func namesSource(suffix string) Source {
	src := Source{
		"gcp:project":      "asyncjobs-test",
		"asyncjobs:region": "asia-northeast1",
		"asyncjobs:worker": `{"image": "asia-docker.pkg.dev/asyncjobs-test/r/worker:v1"}`,
		"asyncjobs:queues": `[{"name": "mail"}, {"name": "bulk", "invokerAccountId": "bulk-calls"}]`,
		"asyncjobs:topics": `[{"name": "jobs", "subscriptions": [{"name": "jobs-pull"}, {"name": "jobs-push", "push": {"path": "/push"}}]}]`,
		"asyncjobs:gke":    `{"name": "cluster"}`,
		"asyncjobs:subscribers": `[{"name": "puller", "subscription": "jobs/jobs-pull",
			"container": {"image": "asia-docker.pkg.dev/asyncjobs-test/r/puller:v1"}}]`,
		"asyncjobs:cronJobs": `[{"name": "report", "schedule": "*/5 * * * *",
			"container": {"image": "asia-docker.pkg.dev/asyncjobs-test/r/report:v1"},
			"googleServiceAccount": {"grants": [{"role": "roles/pubsub.publisher", "topic": "jobs"}]}},
			{"name": "tidy", "schedule": "0 * * * *",
			"container": {"image": "asia-docker.pkg.dev/asyncjobs-test/r/tidy:v1"}}]`,
	}
	if suffix != "" {
		src[SuffixKey] = suffix
	}
	return src
}

// TestResolveFillsPhysicalNames: after Load, every spec's resolved names
// are its base names with "-<suffix>" appended, or the base names alone
// without a suffix; a CronJob without a Google identity has no account.
func TestResolveFillsPhysicalNames(t *testing.T) {
	for _, suffix := range []string{"", "t1"} {
		t.Run("suffix="+suffix, func(t *testing.T) {
			cfg, err := Load(namesSource(suffix))
			if err != nil {
				t.Fatal(err)
			}
			p := func(base string) string {
				if suffix == "" {
					return base
				}
				return base + "-" + suffix
			}
			got := map[string]string{
				"worker service":         cfg.Worker.Names.Service,
				"worker runtime account": cfg.Worker.Names.RuntimeAccount,
				"worker push account":    cfg.Worker.Names.PushAccount,
				"mail queue":             cfg.Queues[0].Names.Queue,
				"mail invoker":           cfg.Queues[0].Names.InvokerAccount,
				"mail enqueuer":          cfg.Queues[0].Names.EnqueuerAccount,
				"bulk queue":             cfg.Queues[1].Names.Queue,
				"bulk invoker":           cfg.Queues[1].Names.InvokerAccount,
				"bulk enqueuer":          cfg.Queues[1].Names.EnqueuerAccount,
				"jobs topic":             cfg.Topics[0].Names.Topic,
				"jobs-pull":              cfg.Topics[0].Subscriptions[0].Names.Subscription,
				"jobs-pull dead letter":  cfg.Topics[0].Subscriptions[0].Names.DeadLetter,
				"jobs-push":              cfg.Topics[0].Subscriptions[1].Names.Subscription,
				"jobs-push dead letter":  cfg.Topics[0].Subscriptions[1].Names.DeadLetter,
				"puller account":         cfg.Subscribers[0].Names.Account,
				"report account":         cfg.CronJobs[0].Names.Account,
				"tidy account":           cfg.CronJobs[1].Names.Account,
			}
			want := map[string]string{
				"worker service":         p("worker"),
				"worker runtime account": p("worker-run"),
				"worker push account":    p("worker-push"),
				"mail queue":             p("mail"),
				"mail invoker":           p("mail-invoker"),
				"mail enqueuer":          p("mail-enqueuer"),
				"bulk queue":             p("bulk"),
				"bulk invoker":           p("bulk-calls"),
				"bulk enqueuer":          p("bulk-enqueuer"),
				"jobs topic":             p("jobs"),
				"jobs-pull":              p("jobs-pull"),
				"jobs-pull dead letter":  p("jobs-pull-dead-letter"),
				"jobs-push":              p("jobs-push"),
				"jobs-push dead letter":  p("jobs-push-dead-letter"),
				"puller account":         p("puller-sub"),
				"report account":         p("report-job"),
				"tidy account":           "",
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s: resolved %q, want %q", k, got[k], w)
				}
			}
			args := cfg.monitoringArgs("test")
			if args.Worker.Service != p("worker") || args.Queues[1].ID != p("bulk") ||
				args.Subscriptions[1].Name != p("jobs-push") || args.Subscriptions[1].DeadLetter != p("jobs-push-dead-letter") {
				t.Errorf("monitoring arguments do not read the resolved names: worker %+v, queues %+v, subscriptions %+v", args.Worker, args.Queues, args.Subscriptions)
			}
		})
	}
}

// TestResolvedNamesAreNotConfiguration: the resolved names are no key of
// the stack file; a stack that tries to set them is refused.
func TestResolvedNamesAreNotConfiguration(t *testing.T) {
	src := namesSource("")
	src["asyncjobs:worker"] = `{"image": "asia-docker.pkg.dev/asyncjobs-test/r/worker:v1", "names": {"service": "elsewhere"}}`
	src["asyncjobs:queues"] = `[{"name": "mail", "Names": {"Queue": "elsewhere"}}]`
	_, err := Load(src)
	if err == nil {
		t.Fatal("Load accepted names in the stack file")
	}
	for _, k := range []string{"asyncjobs:worker.names", "asyncjobs:queues[0].Names"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not refuse %s:\n%v", k, err)
		}
	}
}
