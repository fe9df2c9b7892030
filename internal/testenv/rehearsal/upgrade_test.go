package rehearsal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/command/stackoutputs"
	"github.com/asyncjobs/asyncjobs/internal/command/upgrade"
	"github.com/asyncjobs/asyncjobs/internal/plan/plandiff"
	"github.com/asyncjobs/asyncjobs/internal/testenv/fakegoogle"
	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

// losing are the steps that delete what a resource holds: its deletion,
// or its replacement by a new one.
var losing = []apitype.OpType{
	apitype.OpDelete, apitype.OpReplace, apitype.OpCreateReplacement, apitype.OpDeleteReplaced,
	apitype.OpReadDiscard, apitype.OpDiscardReplaced, apitype.OpImportReplacement, apitype.OpReadReplacement,
}

// lost lists the steps that would delete or replace a resource holding
// data or identity (plandiff.HoldsData).
func lost(steps rehearsal.Steps) []string {
	var out []string
	for _, s := range steps {
		if what, ok := plandiff.HoldsData(s.Type); ok && slices.Contains(losing, s.Op) {
			out = append(out, fmt.Sprintf("%s %s (%s)", s.Op, short(s.URN), what))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// deletions lists the DELETE requests that reached the fake Google after
// the first n of its request log, but for those of paths ending as
// announced (cmd/upgrade's report).
func deletions(g *fakegoogle.Google, n int, announced []string) []string {
	var out []string
	for _, r := range g.Requests()[n:] {
		if r.Method == http.MethodDelete && !slices.ContainsFunc(announced, func(a string) bool { return strings.HasSuffix(r.Path, a) }) {
			out = append(out, r.Host+r.Path)
		}
	}
	return out
}

// TestUpgrade deploys the previous release (PreviousRelease) on dev and
// prod, and on a test stack made from dev by that release's teststack
// command, then takes each to this tree as CHANGELOG.md says: cmd/upgrade
// on the stack's state, the bootstrap's import of the completions metric,
// then preview and up. Nothing that holds data or identity (topics,
// subscriptions, queues, service accounts, clusters, namespaces, log-based
// metrics) is deleted or replaced, in the engine's steps or in the requests
// that reach Google; the completions metric is never absent; the stack
// settles with no changes.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	prev := rehearsal.PreviousRelease
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			e := rehearsal.StartWith(t, rehearsal.Options{NotBootstrapped: true})
			ctx := context.Background()

			// The previous release, as its users deployed it.
			e.Checkout(ctx, prev.Commit)
			// --continue-on-error: past its known failure, as far as it
			// goes, so that everything of it that holds data is there to
			// lose.
			e.Init(ctx, stack)
			deploy(t, e, prev, stack, func() *rehearsal.Run { return e.Up(ctx, stack, "--continue-on-error") })
			const test = "pr-1"
			upgraded := []string{stack}
			if stack == "dev" {
				old := e.Build(ctx, "./cmd/teststack")
				// It makes the stack and its record, then fails like the
				// release's up (or first on Monitoring's delay for the
				// metrics it has just made); the CLI takes it further.
				if r := e.Command(ctx, "", stack, old, "up", "--name", test, "--from", "dev", "--ttl", "1h", "--owner", "rehearsal"); r.Err != nil &&
					!strings.Contains(r.Output, prev.KnownFailure) && !strings.Contains(r.Output, metricDelay) {
					t.Fatalf("%s's teststack up: %v", prev.Tag, r.Err)
				}
				deploy(t, e, prev, test, func() *rehearsal.Run { return e.Up(ctx, test, "--continue-on-error") })
				upgraded = append(upgraded, test)
			}
			for _, s := range upgraded {
				holding(t, prev, s, e.State(ctx, "", s))
			}
			project := config(t, e, stack).Config["gcp:project"]
			start := len(e.Google.Requests())

			// This release: git pull. Without CHANGELOG.md's steps, the
			// up fails on the recorded kubeconfig before it deletes
			// anything: forgetting them loses nothing.
			e.CheckoutCurrent()
			if prev.KnownFailure != "" {
				before := e.State(ctx, "", stack)
				if r := e.Up(ctx, stack); r.Err == nil || !strings.Contains(r.Output, prev.KnownFailure) {
					t.Errorf("this release's up on the %s state without cmd/upgrade: %v; want it to fail on %q", prev.Tag, r.Err, prev.KnownFailure)
				}
				if d := deletions(e.Google, start, nil); len(d) > 0 {
					t.Errorf("the failed up deleted in Google:\n  %s", strings.Join(d, "\n  "))
				}
				after := urns(e.State(ctx, "", stack))
				for _, u := range urns(before) {
					if !slices.Contains(after, u) {
						t.Errorf("the failed up removed %s from the state", u)
					}
				}
			}
			tool := e.Build(ctx, "./cmd/upgrade")
			var bootstrapSteps []upgrade.Step
			var announced []string // what the ups delete on purpose
			for _, s := range upgraded {
				r := e.Command(ctx, "", s, tool, "-stack", s, "-bootstrap-stack", "example", "-json")
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				var report upgrade.Report
				if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil {
					t.Fatalf("upgrade -json: %v\n%s", err, r.Stdout)
				}
				if !report.Pending() {
					t.Errorf("upgrade found nothing to do on the %s state of %s", prev.Tag, s)
				}
				if c := e.Command(ctx, "", s, tool, "-stack", s, "-check"); c.Err == nil {
					t.Errorf("upgrade -check passed on the %s state of %s, which needs changes", prev.Tag, s)
				}
				if y := e.Command(ctx, "", s, tool, "-stack", s, "-yes"); y.Err != nil {
					t.Fatal(y.Err)
				}
				if c := e.Command(ctx, "", s, tool, "-stack", s, "-check"); c.Err != nil {
					t.Errorf("upgrade -check after -yes: %v", c.Err)
				}
				for _, d := range report.Deletes {
					announced = append(announced, "/metrics/"+d.Name)
				}
				for _, b := range report.Bootstrap {
					if !slices.ContainsFunc(bootstrapSteps, func(x upgrade.Step) bool { return slices.Equal(x.Args, b.Args) }) {
						bootstrapSteps = append(bootstrapSteps, b)
					}
				}
			}
			if len(bootstrapSteps) != 1 {
				t.Fatalf("upgrade printed %d commands for the bootstrap, want the import of the completions metric: %v", len(bootstrapSteps), bootstrapSteps)
			}

			// The bootstrap adopts the metric, then comes up without a 409.
			const dir, boot = "bootstrap", "example"
			e.Must(ctx, dir, boot, "stack", "init", boot)
			for _, b := range bootstrapSteps {
				e.Must(ctx, dir, boot, b.Args...)
			}
			bp := e.Pulumi(ctx, dir, boot, "preview", "--stack", boot, "--non-interactive", "--diff")
			if bp.Err != nil {
				t.Fatal(bp.Err)
			}
			for _, s := range bp.Steps {
				if s.Type == upgrade.TypeLogMetric && strings.Contains(s.URN, "cronjob-completed-"+project) && s.Op != apitype.OpUpdate && s.Op != apitype.OpSame {
					t.Errorf("the bootstrap's preview would %s the imported metric %s", s.Op, short(s.URN))
				}
			}
			e.Must(ctx, dir, boot, "up", "--stack", boot, "--non-interactive", "--yes", "--skip-preview")

			p := e.Preview(ctx, stack)
			if p.Err != nil {
				t.Fatal(p.Err)
			}
			if l := lost(p.Steps); len(l) > 0 {
				t.Errorf("the preview of %s from %s deletes or replaces what holds data or identity:\n  %s", stack, prev.Tag, strings.Join(l, "\n  "))
			}
			u := e.Up(ctx, stack)
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			if l := lost(u.Steps); len(l) > 0 {
				t.Errorf("the up of %s from %s deleted or replaced what holds data or identity:\n  %s", stack, prev.Tag, strings.Join(l, "\n  "))
			}
			noChanges(t, e, "", stack)

			if stack == "dev" {
				teststack := e.Build(ctx, "./cmd/teststack")
				if r := e.Command(ctx, "", stack, teststack, "up", "--name", test, "--from", "dev", "--ttl", "1h", "--owner", "rehearsal"); r.Err != nil {
					t.Fatal(r.Err)
				}
				noChanges(t, e, "", test)
			}
			if d := deletions(e.Google, start, announced); len(d) > 0 {
				t.Errorf("the upgrade deleted in Google:\n  %s", strings.Join(d, "\n  "))
			}
			metric := "logging.googleapis.com/v2/projects/" + project + "/metrics/" + monitoring.MetricCronJobCompleted
			if err := e.GoogleDo(http.MethodGet, metric, nil, nil); err != nil {
				t.Errorf("the completions metric after the upgrade: %v", err)
			}
			if stack == "dev" {
				teststack := e.Build(ctx, "./cmd/teststack")
				if r := e.Command(ctx, "", stack, teststack, "destroy", "--name", test); r.Err != nil {
					t.Fatal(r.Err)
				}
			}
		})
	}
}

// TestUpgradeFromLatestRelease deploys the latest release (LatestRelease)
// on dev and prod as its users did, bootstrapped as it expects (the
// completions metric exists), then takes each to this tree as `git pull`
// does. For the committed stack files CHANGELOG.md asks for no step, and
// this tree's changes are meant to change no resource: the real engine,
// with the real providers, must find nothing to change in a preview, a
// refresh and an up, and nothing may be deleted in Google; the stack
// outputs `pulumi stack output --json` prints are exactly package
// stackoutputs' contract.
func TestUpgradeFromLatestRelease(t *testing.T) {
	t.Parallel()
	rel := rehearsal.LatestRelease
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			e := rehearsal.Start(t)
			ctx := context.Background()

			e.Checkout(ctx, rel.Commit)
			e.Init(ctx, stack)
			deploy(t, e, rel, stack, func() *rehearsal.Run { return e.Up(ctx, stack) })
			before := e.State(ctx, "", stack)
			holding(t, rel, stack, before)
			start := len(e.Google.Requests())

			e.CheckoutCurrent()
			noChanges(t, e, "", stack)
			u := e.Up(ctx, stack)
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			if ch := u.Steps.Changed(); len(ch) > 0 {
				t.Errorf("this tree's up of a %s deployment of %s changes %v", rel.Tag, stack, ch)
			}
			if d := deletions(e.Google, start, nil); len(d) > 0 {
				t.Errorf("the upgrade deleted in Google:\n  %s", strings.Join(d, "\n  "))
			}
			if got, want := urns(e.State(ctx, "", stack)), urns(before); !slices.Equal(got, want) {
				t.Errorf("the state's resources changed:\n%s", diffLines(want, got))
			}
			// The stack outputs as the real engine keeps them, and as the
			// operator commands read them: exactly the contract.
			out := e.Must(ctx, "", stack, "stack", "output", "--json", "--stack", stack)
			outs, err := stackoutputs.Exact([]byte(out.Stdout))
			if err != nil {
				t.Fatal(err)
			}
			if _, q, err := outs.Queue(""); err != nil || q.QueuePath == "" || q.WorkerURL == "" || q.WorkerTimeoutSeconds == 0 {
				t.Errorf("the operator commands read the queue as %+v, %v", q, err)
			}
		})
	}
}

// holding: the previous release's deployment of a stack holds what the
// upgrade must not lose, each kind at least once.
func holding(t *testing.T, prev rehearsal.Release, stack string, state []rehearsal.Resource) {
	t.Helper()
	have := map[string]int{}
	for _, r := range state {
		have[r.Type]++
	}
	for _, typ := range []string{
		"gcp:pubsub/topic:Topic", "gcp:pubsub/subscription:Subscription", "gcp:cloudtasks/queue:Queue", "gcp:serviceaccount/account:Account",
		upgrade.TypeLogMetric,
	} {
		if have[typ] == 0 {
			t.Errorf("%s's deployment of %s holds no %s: the upgrade rehearsal could not see one lost", prev.Tag, stack, typ)
		}
	}
}

// urns are the sorted URNs of a state.
func urns(state []rehearsal.Resource) []string {
	var out []string
	for _, r := range state {
		out = append(out, r.URN)
	}
	slices.Sort(out)
	return out
}

// metricDelay is Cloud Monitoring's answer for a log-based metric it does
// not know yet.
const metricDelay = "Cannot find metric(s) that match type"

// deploy deploys the previous release as its users did: an up, and again
// once Monitoring knows the metrics when it was refused for their delay
// (the metrics are backdated then: the deployment is long past). The
// release's known failure ends it; any other fails the test.
func deploy(t *testing.T, e *rehearsal.Env, prev rehearsal.Release, stack string, up func() *rehearsal.Run) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r := up()
		if r.Err == nil {
			break
		}
		if strings.Contains(r.Output, metricDelay) && attempt < 3 {
			backdateMetrics(t, e, stack)
			continue
		}
		if prev.KnownFailure == "" || !strings.Contains(r.Output, prev.KnownFailure) {
			t.Fatalf("deploying %s failed, and not with its known failure %q: %v", prev.Tag, prev.KnownFailure, r.Err)
		}
		break
	}
	backdateMetrics(t, e, stack)
}

// backdateMetrics makes the log-based metrics of a stack's state old
// enough for Cloud Monitoring.
func backdateMetrics(t *testing.T, e *rehearsal.Env, stack string) {
	t.Helper()
	for _, r := range e.State(context.Background(), "", stack) {
		if r.Type != upgrade.TypeLogMetric {
			continue
		}
		project, _ := r.Inputs["project"].(string)
		name, _ := r.Inputs["name"].(string)
		e.Google.Backdate(project, name)
	}
}
