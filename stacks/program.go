package stacks

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/organizations"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/apis"
	"github.com/asyncjobs/asyncjobs/components/cronjob"
	"github.com/asyncjobs/asyncjobs/components/gke"
	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/components/subscriber"
	"github.com/asyncjobs/asyncjobs/components/taskqueue"
	"github.com/asyncjobs/asyncjobs/components/worker"
	"github.com/asyncjobs/asyncjobs/internal/program/actas"
	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
	"github.com/asyncjobs/asyncjobs/internal/program/protect"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// APIs are the Google APIs the stack uses.
var APIs = []string{
	"cloudresourcemanager.googleapis.com",
	"iam.googleapis.com",
	"iamcredentials.googleapis.com",
	"run.googleapis.com",
	"cloudtasks.googleapis.com",
	"pubsub.googleapis.com",
	"monitoring.googleapis.com",
	"logging.googleapis.com",
}

// WorkloadAPIs are enabled too when the stack runs workloads on GKE.
var WorkloadAPIs = []string{"container.googleapis.com"}

// ConfigError lists every problem found in a stack's configuration.
type ConfigError struct {
	Errs field.ErrorList
}

func (e *ConfigError) Error() string {
	lines := make([]string, 0, len(e.Errs)+1)
	lines = append(lines, fmt.Sprintf("invalid configuration (%d problems):", len(e.Errs)))
	for _, err := range e.Errs {
		lines = append(lines, "  "+err.Error())
	}
	return strings.Join(lines, "\n")
}

// Program is the Pulumi program run for every stack.
func Program(ctx *pulumi.Context) error { return run(ctx, DeployGate, nil) }

// Recording is Program that also hands back the Config it ran with,
// resolved: make plan, the policy checks and the rehearsal read the values
// the program used instead of computing them again. *ran is set once the
// configuration is loaded, before any resource is registered.
func Recording(ran *Config) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error { return run(ctx, DeployGate, ran) }
}

// ProgramWith is Program with gate in place of DeployGate's choice, for
// tests that check what waits for it.
func ProgramWith(gate actas.Gate) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		return run(ctx, func(*pulumi.Context) (actas.Gate, error) { return gate, nil }, nil)
	}
}

func run(ctx *pulumi.Context, gateFor func(*pulumi.Context) (actas.Gate, error), ran *Config) error {
	src, err := ContextSource(ctx)
	if err != nil {
		return err
	}
	cfg, err := Load(ctx.Stack(), src)
	if err != nil {
		return err
	}
	if ran != nil {
		*ran = cfg
	}
	for _, w := range cfg.Warnings() {
		if err := ctx.Log.Warn(w.String(), nil); err != nil {
			return err
		}
	}
	gate, err := gateFor(ctx)
	if err != nil {
		return err
	}
	return build(ctx, cfg, gate)
}

// DeployGate is the actAs gate of a run (see package actas): none in a
// preview, where nothing is created, nor under the SDK's mocks (make plan,
// the policy checks, the tests), which must never call Google; otherwise
// the IAM API's answer for the identity the gcp provider authenticates as.
func DeployGate(ctx *pulumi.Context) (actas.Gate, error) {
	p := actas.Provider{}
	p.AccessToken, _ = ctx.GetConfig("gcp:accessToken")
	p.Credentials, _ = ctx.GetConfig("gcp:credentials")
	p.ImpersonateServiceAccount, _ = ctx.GetConfig("gcp:impersonateServiceAccount")
	return chooseGate(ctx.DryRun(), ctx.RunningWithMocks(), os.Getenv, p, func(msg string) {
		_ = ctx.Log.Info(msg, nil)
	})
}

func chooseGate(preview, mocks bool, getenv func(string) string, p actas.Provider, log func(string)) (actas.Gate, error) {
	if preview || mocks {
		return nil, nil
	}
	c, err := actas.FromEnv(getenv, p)
	if err != nil {
		return nil, err
	}
	c.DeployersKey = Namespace + ":deployers"
	c.Log = log
	return c, nil
}

// Load reads the configuration of the named stack in the Kubernetes
// order: decode (strictly, every problem with its key path), resolve (the
// defaults that depend on other keys, and every physical name; see
// resolve), then validate the resolved Config. A value that did not decode
// is left to its decode error: the rules that read it do not run (see
// strictconfig.Unread), and what lies under it is not validated. Production
// stacks (see ProductionReasons) get stricter rules. Nothing is registered
// unless it returns no error; the Config it returns is the one the program
// runs with.
func Load(stack string, src Source) (Config, error) {
	cfg, errs := Decode(src)
	cfg.Stack = stack
	cfg.resolve()
	decodeErrs := slices.Clip(errs)
	for _, e := range cfg.Validate() {
		if !ownedByDecodeError(e, decodeErrs) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return cfg, &ConfigError{Errs: errs}
	}
	return cfg, nil
}

// ownedByDecodeError reports whether a rule's error is at a key that did
// not decode, or under it: the key holds its default, and its decode error
// already says what is wrong. (Rules across keys, and references, do not
// run on an unread key at all; see strictconfig.Unread.)
func ownedByDecodeError(e *field.Error, decodeErrs field.ErrorList) bool {
	for _, d := range decodeErrs {
		if strictconfig.Within(e.Field, d.Field) {
			return true
		}
	}
	return false
}

// namesUnknown reports whether some topic or subscription name could not
// be read (a topic, a subscription list or a name that did not decode, or
// a name left empty): references to them are then not checked, since what
// they name may be exactly what failed, and the problem is reported where
// it is.
func (c Config) namesUnknown() bool {
	if c.Unread["topics"] {
		return true
	}
	for _, t := range c.Topics {
		if t.Name == "" || t.Unread.Any("name", "subscriptions") {
			return true
		}
		for _, s := range t.Subscriptions {
			if s.Name == "" || s.Unread["name"] {
				return true
			}
		}
	}
	return false
}

// Build declares the stack from a validated configuration, with the
// actAs gate DeployGate chooses.
func Build(ctx *pulumi.Context, cfg Config) error {
	gate, err := DeployGate(ctx)
	if err != nil {
		return err
	}
	return build(ctx, cfg, gate)
}

func build(ctx *pulumi.Context, cfg Config, gate actas.Gate) error {
	if cfg.Protect {
		if err := ctx.RegisterStackTransformation(protectAll); err != nil {
			return err
		}
	}
	var deps []pulumi.Resource
	if cfg.EnableAPIs {
		services := APIs
		if cfg.HasWorkloads() {
			services = append(append([]string{}, APIs...), WorkloadAPIs...)
		}
		svcs, err := apis.New(ctx, "apis", apis.Args{Project: cfg.Project, Services: services})
		if err != nil {
			return err
		}
		deps = append(deps, svcs.Resources...)
	}

	w, err := worker.New(ctx, "worker", worker.Args{
		Project:   cfg.Project,
		Labels:    cfg.Labels,
		Spec:      cfg.Worker,
		Deployers: cfg.Deployers,
		Gate:      gate,
		DependsOn: deps,
	})
	if err != nil {
		return err
	}
	ctx.Export("project", pulumi.String(cfg.Project))
	ctx.Export("region", pulumi.String(cfg.Region))
	ctx.Export("worker", outputmap.Of(w))

	queues := pulumi.Map{}
	for _, spec := range cfg.Queues {
		q, err := taskqueue.New(ctx, "queue-"+spec.Name, taskqueue.Args{
			Project:              cfg.Project,
			Labels:               cfg.Labels,
			Spec:                 spec,
			DependsOn:            deps,
			Worker:               w,
			WorkerURL:            w.URL,
			WorkerTimeoutSeconds: int(cfg.Worker.Timeout.WholeSeconds()),
		})
		if err != nil {
			return err
		}
		queues[spec.Name] = outputmap.Of(q)
	}
	ctx.Export("queues", queues)

	topics, deadLetters := pulumi.Map{}, pulumi.Map{}
	declared := map[string]*messaging.Topic{}
	if len(cfg.Topics) > 0 {
		project := organizations.LookupProjectOutput(ctx, organizations.LookupProjectOutputArgs{
			ProjectId: pulumi.String(cfg.Project),
		})
		agent := pulumi.Sprintf("serviceAccount:service-%s@gcp-sa-pubsub.iam.gserviceaccount.com", project.Number())
		for _, spec := range cfg.Topics {
			t, err := messaging.New(ctx, "topic-"+spec.Name, messaging.Args{
				Project:          cfg.Project,
				Labels:           cfg.Labels,
				Spec:             spec,
				DependsOn:        append(append([]pulumi.Resource{}, deps...), w.PushActAs...),
				ServiceAgent:     agent,
				WorkerURL:        w.URL,
				PushServiceEmail: w.PushServiceAccountEmail,
			})
			if err != nil {
				return err
			}
			declared[spec.Name] = t
			topics[spec.Name] = outputmap.Of(t)
			for name, sub := range t.Subscriptions {
				// A dead-letter pair is a subscription's outputs and its topic.
				pair := outputmap.Of(sub)
				pair["topic"] = t.TopicID
				deadLetters[spec.Name+"/"+name] = pair
			}
		}
	}
	ctx.Export("topics", topics)
	ctx.Export("deadLetters", deadLetters)
	if cfg.HasWorkloads() {
		if err := buildWorkloads(ctx, cfg, deps, declared, gate); err != nil {
			return err
		}
	}
	return buildMonitoring(ctx, cfg, deps)
}

// protectAll protects every resource of a protected stack: its data, and
// everything serving and alerting depend on (service accounts and grants,
// the Kubernetes workloads and their provider, alert policies, channels,
// the dashboard); see docs/deploying.md, "Protection".
var protectAll = protect.All

// buildMonitoring declares the alert policies, their channels and the
// dashboard over everything above, by physical names.
func buildMonitoring(ctx *pulumi.Context, cfg Config, deps []pulumi.Resource) error {
	args := cfg.monitoringArgs()
	args.DependsOn = deps
	m, err := monitoring.New(ctx, "monitoring", args)
	if err != nil {
		return err
	}
	ctx.Export("monitoring", outputmap.Of(m))
	return nil
}

// buildWorkloads declares the cluster access, the subscribers and the CronJobs.
func buildWorkloads(ctx *pulumi.Context, cfg Config, deps []pulumi.Resource, topics map[string]*messaging.Topic, gate actas.Gate) error {
	cluster, err := gke.New(ctx, "gke", gke.Args{
		Project: cfg.Project, Labels: cfg.Labels, Spec: cfg.GKE,
		Deployers: cfg.Deployers, Gate: gate, DependsOn: deps,
	})
	if err != nil {
		return err
	}
	namespace := cfg.GKE.Names.Namespace
	subscription := func(ref string) (messaging.Subscription, messaging.SubscriptionSpec) {
		t, s, _ := cfg.subscription(ref)
		return topics[t.Name].Subscriptions[s.Name], s
	}
	workloads := pulumi.Map{}
	for _, spec := range cfg.Subscribers {
		out, sub := subscription(spec.Subscription)
		s, err := subscriber.New(ctx, "subscriber-"+spec.Name, subscriber.Args{
			Project: cfg.Project, Labels: cfg.Labels, Spec: spec,
			Namespace: namespace, WorkloadPool: cluster.WorkloadPool,
			SubscriptionID: out.Subscription, Subscription: out.Resource, SubscriptionName: sub.Names.Subscription,
			AckDeadlineSeconds: int(sub.AckDeadline.WholeSeconds()),
			Provider:           cluster.Provider, Ready: cluster.Ready, DependsOn: deps,
		})
		if err != nil {
			return err
		}
		workloads[spec.Name] = outputmap.Of(s)
	}
	for _, spec := range cfg.CronJobs {
		var grants []cronjob.ResolvedGrant
		if spec.GoogleServiceAccount != nil {
			for _, g := range spec.GoogleServiceAccount.Grants {
				r := cronjob.ResolvedGrant{Role: g.Role}
				if g.Topic != "" {
					r.Topic, r.Resource = topics[g.Topic].TopicID, topics[g.Topic].Resource
				} else {
					out, _ := subscription(g.Subscription)
					r.Subscription, r.Resource = out.Subscription, out.Resource
				}
				grants = append(grants, r)
			}
		}
		j, err := cronjob.New(ctx, "cronjob-"+spec.Name, cronjob.Args{
			Project: cfg.Project, Labels: cfg.Labels, Spec: spec,
			Namespace: namespace, WorkloadPool: cluster.WorkloadPool, Grants: grants,
			Provider: cluster.Provider, Ready: cluster.Ready, DependsOn: deps,
		})
		if err != nil {
			return err
		}
		workloads[spec.Name] = outputmap.Of(j)
	}
	k := outputmap.Of(cluster)
	k["workloads"] = workloads
	ctx.Export("kubernetes", k)
	return nil
}
