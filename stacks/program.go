package stacks

import (
	"fmt"
	"os"
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
	"github.com/asyncjobs/asyncjobs/internal/actas"
	"github.com/asyncjobs/asyncjobs/internal/protect"
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
func Program(ctx *pulumi.Context) error { return run(ctx, DeployGate) }

// ProgramWith is Program with gate in place of DeployGate's choice, for
// tests that check what waits for it.
func ProgramWith(gate actas.Gate) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		return run(ctx, func(*pulumi.Context) (actas.Gate, error) { return gate, nil })
	}
}

func run(ctx *pulumi.Context, gateFor func(*pulumi.Context) (actas.Gate, error)) error {
	src, err := ContextSource(ctx)
	if err != nil {
		return err
	}
	cfg, err := LoadStack(ctx.Stack(), src)
	if err != nil {
		return err
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

// Load decodes and validates a configuration without a stack name: only
// its labels can make it production. Nothing is registered unless it
// returns no error.
func Load(src Source) (Config, error) { return LoadStack("", src) }

// LoadStack decodes and validates the configuration of the named stack.
// Production stacks (see ProductionReasons) get stricter rules.
func LoadStack(stack string, src Source) (Config, error) {
	cfg, errs := Decode(src)
	cfg.Stack = stack
	cfg.undecoded = map[string]bool{}
	for _, e := range errs {
		cfg.undecoded[e.Field] = true
	}
	for _, e := range cfg.Validate() {
		if !cfg.blamesUndecoded(e) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return cfg, &ConfigError{Errs: errs}
	}
	cfg.resolve()
	return cfg, nil
}

// resolve fills, once and after validation, what a stack file may leave to
// the stack's region (like Kubernetes defaulting after decoding), and the
// physical name of every resource named from the configuration, so the
// program, the monitoring arguments and the stack outputs all read one
// value: each queue's location, the cluster's location, and each spec's
// Names (its logical names with the stack's name suffix). Components
// refuse a spec whose Names are empty.
func (c *Config) resolve() {
	suffix := c.NameSuffix
	c.Worker.Names = c.Worker.PhysicalNames(suffix)
	for i := range c.Queues {
		q := &c.Queues[i]
		if q.Location == "" {
			q.Location = c.Region
		}
		q.Names = q.PhysicalNames(suffix)
	}
	for i := range c.Topics {
		t := &c.Topics[i]
		t.Names = t.PhysicalNames(suffix)
		for j := range t.Subscriptions {
			s := &t.Subscriptions[j]
			s.Names = s.PhysicalNames(suffix)
		}
	}
	for i := range c.Subscribers {
		c.Subscribers[i].Names = c.Subscribers[i].PhysicalNames(suffix)
	}
	for i := range c.CronJobs {
		c.CronJobs[i].Names = c.CronJobs[i].PhysicalNames(suffix)
	}
	if c.GKE.Location == "" {
		c.GKE.Location = c.Region
	}
}

// blamesUndecoded reports whether a validation error is about a value that
// could not be decoded (and so holds its default): the value itself, what
// lies under it, or a sibling whose rule names it ("must be >= minBackoff").
// Its decode error already says what is wrong; this one would blame a
// correct key or repeat the problem.
func (c Config) blamesUndecoded(e *field.Error) bool {
	for bad := range c.undecoded {
		if within(e.Field, bad) {
			return true
		}
		parent, name := splitPath(bad)
		if p, _ := splitPath(e.Field); p == parent && name != "" && strings.Contains(e.Detail, name) {
			return true
		}
	}
	return false
}

// namesUnknown reports whether some topic or subscription name could not
// be read (a decode problem on a name, an item or a list, or a name left
// empty): references to them are then not checked, since what they name
// may be exactly what failed, and the problem is reported where it is.
func (c Config) namesUnknown() bool {
	topics := key("topics").String()
	for bad := range c.undecoded {
		if within(bad, topics) && (bad == topics || strings.HasSuffix(bad, "]") ||
			strings.HasSuffix(bad, ".name") || strings.HasSuffix(bad, ".subscriptions")) {
			return true
		}
	}
	for _, t := range c.Topics {
		if t.Name == "" {
			return true
		}
		for _, s := range t.Subscriptions {
			if s.Name == "" {
				return true
			}
		}
	}
	return false
}

// within reports whether path p is q or lies under it.
func within(p, q string) bool {
	return p == q || strings.HasPrefix(p, q+".") || strings.HasPrefix(p, q+"[")
}

// splitPath splits "a.b[0].c" into "a.b[0]" and "c".
func splitPath(p string) (string, string) {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return "", p
	}
	return p[:i], strings.TrimSuffix(p[i+1:], "]")
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
		Spec:         cfg.Worker,
		Project:      cfg.Project,
		Region:       cfg.Region,
		Labels:       cfg.Labels,
		PushIdentity: cfg.hasPush(),
		Deployers:    cfg.Deployers,
		Gate:         gate,
		Protect:      cfg.Protect,
		DependsOn:    deps,
	})
	if err != nil {
		return err
	}
	ctx.Export("project", pulumi.String(cfg.Project))
	ctx.Export("region", pulumi.String(cfg.Region))
	ctx.Export("worker", pulumi.Map{
		"url":            w.URL,
		"serviceName":    w.ServiceName,
		"serviceAccount": w.ServiceAccountEmail,
	})

	queues := pulumi.Map{}
	for _, spec := range cfg.Queues {
		q, err := taskqueue.New(ctx, "queue-"+spec.Name, taskqueue.Args{
			Spec:                 spec,
			Project:              cfg.Project,
			Location:             spec.Location,
			Protect:              cfg.Protect,
			DependsOn:            deps,
			Worker:               w,
			WorkerURL:            w.URL,
			WorkerTimeoutSeconds: int(cfg.Worker.Timeout.WholeSeconds()),
		})
		if err != nil {
			return err
		}
		queues[spec.Name] = pulumi.Map{
			"queuePath":              q.QueuePath,
			"location":               q.Location,
			"workerUrl":              q.WorkerURL,
			"audience":               q.Audience,
			"invokerServiceAccount":  q.InvokerServiceAccount,
			"enqueuerServiceAccount": q.EnqueuerServiceAccount,
			"workerTimeoutSeconds":   q.WorkerTimeoutSeconds,
		}
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
				Spec:             spec,
				Project:          cfg.Project,
				Labels:           cfg.Labels,
				Protect:          cfg.Protect,
				DependsOn:        append(append([]pulumi.Resource{}, deps...), w.PushActAs...),
				ServiceAgent:     agent,
				WorkerURL:        w.URL,
				PushServiceEmail: w.PushServiceAccountEmail,
			})
			if err != nil {
				return err
			}
			declared[spec.Name] = t
			subs := pulumi.Map{}
			for _, s := range spec.Subscriptions {
				out := t.Subscriptions[s.Name]
				subs[s.Name] = pulumi.Map{
					"subscription":           out.Subscription,
					"deadLetterTopic":        out.DeadLetterTopic,
					"deadLetterSubscription": out.DeadLetterSubscription,
				}
				deadLetters[spec.Name+"/"+s.Name] = pulumi.Map{
					"topic":                  t.TopicID,
					"subscription":           out.Subscription,
					"deadLetterTopic":        out.DeadLetterTopic,
					"deadLetterSubscription": out.DeadLetterSubscription,
				}
			}
			topics[spec.Name] = pulumi.Map{"topic": t.TopicID, "subscriptions": subs}
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
	args := cfg.monitoringArgs(ctx.Stack())
	args.DependsOn = deps
	m, err := monitoring.New(ctx, "monitoring", args)
	if err != nil {
		return err
	}
	ctx.Export("monitoring", pulumi.Map{
		"dashboard":            m.Dashboard,
		"alertPolicies":        m.AlertPolicies,
		"notificationChannels": m.NotificationChannels,
	})
	return nil
}

// buildWorkloads declares the cluster access, the subscribers and the CronJobs.
func buildWorkloads(ctx *pulumi.Context, cfg Config, deps []pulumi.Resource, topics map[string]*messaging.Topic, gate actas.Gate) error {
	cluster, err := gke.New(ctx, "gke", gke.Args{Spec: cfg.GKE, Project: cfg.Project, Region: cfg.Region, Labels: cfg.Labels, Namespace: cfg.Namespace(), Deployers: cfg.Deployers, Gate: gate, DependsOn: deps})
	if err != nil {
		return err
	}
	subscription := func(ref string) (messaging.Subscription, messaging.SubscriptionSpec) {
		t, s, _ := cfg.subscription(ref)
		return topics[t.Name].Subscriptions[s.Name], s
	}
	workloads := pulumi.Map{}
	for _, spec := range cfg.Subscribers {
		out, sub := subscription(spec.Subscription)
		s, err := subscriber.New(ctx, "subscriber-"+spec.Name, subscriber.Args{
			Spec: spec, Project: cfg.Project,
			Namespace: cfg.Namespace(), WorkloadPool: cluster.WorkloadPool,
			SubscriptionID: out.Subscription, Subscription: out.Resource, SubscriptionName: sub.Names.Subscription,
			AckDeadlineSeconds: int(sub.AckDeadline.WholeSeconds()),
			Provider:           cluster.Provider, Ready: cluster.Ready, DependsOn: deps,
		})
		if err != nil {
			return err
		}
		workloads[spec.Name] = pulumi.Map{"kind": pulumi.String("Deployment"), "serviceAccount": s.ServiceAccountEmail}
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
		if _, err := cronjob.New(ctx, "cronjob-"+spec.Name, cronjob.Args{
			Spec: spec, Project: cfg.Project,
			Namespace: cfg.Namespace(), WorkloadPool: cluster.WorkloadPool, Grants: grants,
			Provider: cluster.Provider, Ready: cluster.Ready, DependsOn: deps,
		}); err != nil {
			return err
		}
		workloads[spec.Name] = pulumi.Map{"kind": pulumi.String("CronJob")}
	}
	ctx.Export("kubernetes", pulumi.Map{"cluster": cluster.Name, "namespace": cluster.Namespace, "workloads": workloads})
	return nil
}
