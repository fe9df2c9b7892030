package stacks

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/organizations"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/apis"
	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/components/taskqueue"
	"github.com/asyncjobs/asyncjobs/components/worker"
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
func Program(ctx *pulumi.Context) error {
	src, err := EnvSource()
	if err != nil {
		return err
	}
	cfg, err := Load(src)
	if err != nil {
		return err
	}
	return Build(ctx, cfg)
}

// Load decodes and validates a configuration. Nothing is registered unless
// it returns no error.
func Load(src Source) (Config, error) {
	cfg, errs := Decode(src)
	bad := map[string]bool{}
	for _, e := range errs {
		bad[topKey(e.Field)] = true
	}
	for _, e := range cfg.Validate() {
		// A key that failed to decode holds defaults; its checks would only add noise.
		if !bad[topKey(e.Field)] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return cfg, &ConfigError{Errs: errs}
	}
	return cfg, nil
}

func topKey(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
}

// Build declares the stack from a validated configuration.
func Build(ctx *pulumi.Context, cfg Config) error {
	var deps []pulumi.Resource
	if cfg.EnableAPIs {
		svcs, err := apis.New(ctx, "apis", apis.Args{Project: cfg.Project, Services: APIs})
		if err != nil {
			return err
		}
		deps = append(deps, svcs)
	}

	w, err := worker.New(ctx, "worker", worker.Args{
		Spec:         cfg.Worker,
		Project:      cfg.Project,
		Region:       cfg.Region,
		Suffix:       cfg.NameSuffix,
		Labels:       cfg.Labels,
		PushIdentity: cfg.hasPush(),
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
		location := spec.Location
		if location == "" {
			location = cfg.Region
		}
		q, err := taskqueue.New(ctx, "queue-"+spec.Name, taskqueue.Args{
			Spec:                 spec,
			Project:              cfg.Project,
			Location:             location,
			Suffix:               cfg.NameSuffix,
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
	if len(cfg.Topics) > 0 {
		project := organizations.LookupProjectOutput(ctx, organizations.LookupProjectOutputArgs{
			ProjectId: pulumi.String(cfg.Project),
		})
		agent := pulumi.Sprintf("serviceAccount:service-%s@gcp-sa-pubsub.iam.gserviceaccount.com", project.Number())
		for _, spec := range cfg.Topics {
			t, err := messaging.New(ctx, "topic-"+spec.Name, messaging.Args{
				Spec:             spec,
				Project:          cfg.Project,
				Suffix:           cfg.NameSuffix,
				Labels:           cfg.Labels,
				Protect:          cfg.Protect,
				DependsOn:        deps,
				ServiceAgent:     agent,
				WorkerURL:        w.URL,
				PushServiceEmail: w.PushServiceAccountEmail,
			})
			if err != nil {
				return err
			}
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
	return nil
}
