package stacks

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/components/gke"
	"github.com/asyncjobs/asyncjobs/components/monitoring"
)

// TestResolveFillsLocationsOnce: after Load, a queue or cluster without a
// location resolves to the stack's region, an explicit one is kept, the
// worker runs in the stack's region, and the monitoring arguments read the
// same values as the program. The configured locations stay as written.
func TestResolveFillsLocationsOnce(t *testing.T) {
	cfg, err := Load("test", Source{
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
	got := []string{cfg.Queues[0].Names.Location, cfg.Queues[1].Names.Location, cfg.GKE.Names.Location, cfg.Worker.Names.Region}
	if want := []string{"asia-northeast1", "us-central1", "asia-northeast1", "asia-northeast1"}; !slices.Equal(got, want) {
		t.Errorf("resolved locations after Load: %v, want %v", got, want)
	}
	if got := []string{cfg.Queues[0].Location, cfg.Queues[1].Location, cfg.GKE.Location}; !slices.Equal(got, []string{"", "us-central1", ""}) {
		t.Errorf("configured locations after Load: %q, want them as written", got)
	}
	args := cfg.monitoringArgs()
	if args.Queues[0].Location != "asia-northeast1" || args.Queues[1].Location != "us-central1" || args.Cluster.Location != "asia-northeast1" ||
		args.Worker.Region != "asia-northeast1" {
		t.Errorf("monitoring arguments: worker %+v, queues %+v, cluster %+v", args.Worker, args.Queues, args.Cluster)
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
			cfg, err := Load("test", namesSource(suffix))
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
			args := cfg.monitoringArgs()
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
	_, err := Load("test", src)
	if err == nil {
		t.Fatal("Load accepted names in the stack file")
	}
	for _, k := range []string{"asyncjobs:worker.names", "asyncjobs:queues[0].Names"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not refuse %s:\n%v", k, err)
		}
	}
}

// TestResolveFillsClusterNames: after Load, the cluster's project and
// location default to the stack's, explicit ones are kept, the workloads'
// namespace carries the stack's name suffix, and a cluster's deletion
// protection is on exactly when the stack creates it and is protected
// (asyncjobs:protect, the one protection knob). The monitoring arguments
// read the same values.
func TestResolveFillsClusterNames(t *testing.T) {
	for _, tc := range []struct {
		name, suffix, gke, protect string
		want                       gke.Names
	}{
		{"defaults", "", `{"name": "cluster"}`, "",
			gke.Names{Project: "asyncjobs-test", Location: "asia-northeast1", Namespace: "asyncjobs"}},
		{"suffix", "t1", `{"name": "cluster", "namespace": "jobs"}`, "",
			gke.Names{Project: "asyncjobs-test", Location: "asia-northeast1", Namespace: "jobs-t1"}},
		{"explicit project and location", "t1", `{"name": "cluster", "project": "asyncjobs-gke", "location": "us-central1-a"}`, "true",
			gke.Names{Project: "asyncjobs-gke", Location: "us-central1-a", Namespace: "asyncjobs-t1"}},
		{"existing cluster in a protected stack", "", `{"name": "cluster"}`, "true",
			gke.Names{Project: "asyncjobs-test", Location: "asia-northeast1", Namespace: "asyncjobs"}},
		{"created cluster in an unprotected stack", "", `{"name": "cluster", "create": true}`, "false",
			gke.Names{Project: "asyncjobs-test", Location: "asia-northeast1", Namespace: "asyncjobs"}},
		{"created cluster in a protected stack", "", `{"name": "cluster", "create": true}`, "true",
			gke.Names{Project: "asyncjobs-test", Location: "asia-northeast1", Namespace: "asyncjobs", DeletionProtection: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := namesSource(tc.suffix)
			src["asyncjobs:gke"] = tc.gke
			if tc.protect != "" {
				src["asyncjobs:protect"] = tc.protect
			}
			cfg, err := Load("test", src)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GKE.Names != tc.want {
				t.Errorf("resolved %+v, want %+v", cfg.GKE.Names, tc.want)
			}
			if cfg.Namespace() != tc.want.Namespace || cfg.ClusterProject() != tc.want.Project {
				t.Errorf("namespace %q, cluster project %q, want the resolved ones", cfg.Namespace(), cfg.ClusterProject())
			}
			c := cfg.monitoringArgs().Cluster
			if c.Project != tc.want.Project || c.Location != tc.want.Location || c.Namespace != tc.want.Namespace || c.Name != "cluster" {
				t.Errorf("monitoring arguments' cluster %+v, want the resolved names", c)
			}
		})
	}
}

// TestResolveFillsMonitoringNames: after Load, the alerting spec carries the
// stack's name (from Load, not from the stack file) and the physical names
// of the stack's log-based metrics, with the name suffix; the monitoring
// arguments hand them on.
func TestResolveFillsMonitoringNames(t *testing.T) {
	for _, tc := range []struct {
		stack, suffix string
		want          monitoring.Names
	}{
		{"test", "", monitoring.Names{Stack: "test", CronJobFailedMetric: "asyncjobs-cronjob-failed", CronJobMissedMetric: "asyncjobs-cronjob-missed"}},
		{"review-7", "t1", monitoring.Names{
			Stack: "review-7", CronJobFailedMetric: "asyncjobs-cronjob-failed-t1", CronJobMissedMetric: "asyncjobs-cronjob-missed-t1",
		}},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			cfg, err := Load(tc.stack, namesSource(tc.suffix))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Alerting.Names != tc.want {
				t.Errorf("resolved %+v, want %+v", cfg.Alerting.Names, tc.want)
			}
			if got := cfg.monitoringArgs().Spec.Names; got != tc.want {
				t.Errorf("monitoring arguments carry %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestPhysicalNamesComputedOnce: gcpname.Physical, which turns a base name
// into a physical one, is called by resolve alone among the module's
// non-test files, so every physical name is computed in one function.
func TestPhysicalNamesComputedOnce(t *testing.T) {
	var calls []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "build" || strings.HasPrefix(d.Name(), ".") && path != "..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if fn, ok := n.(*ast.FuncDecl); ok {
				ast.Inspect(fn, func(n ast.Node) bool {
					if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Physical" {
						if x, ok := sel.X.(*ast.Ident); ok && x.Name == "gcpname" {
							calls = append(calls, filepath.ToSlash(path)+" "+fn.Name.Name)
						}
					}
					return true
				})
				return false
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0] != "../stacks/resolve.go resolve" {
		t.Errorf("gcpname.Physical is called in %v, want in stacks/resolve.go's resolve only", calls)
	}
}
