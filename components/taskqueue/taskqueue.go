// Package taskqueue declares a Cloud Tasks queue that calls the private
// worker with OIDC tokens, together with its two identities: the invoker
// (the identity inside the tokens, allowed to call the worker) and the
// enqueuer (allowed to add tasks to this queue and to act as the invoker).
package taskqueue

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/cloudrunv2"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/cloudtasks"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:taskqueue:Queue"

// Invoker grants roles/run.invoker on the worker service; the worker
// component implements it so the grant stays on that one service.
type Invoker interface {
	GrantInvoker(
		ctx *pulumi.Context, name string, member pulumi.StringInput, account pulumi.Resource, opts ...pulumi.ResourceOption,
	) (*cloudrunv2.ServiceIamMember, error)
}

// Args are the queue's settings: the project, the labels (Cloud Tasks
// queues take none) and the resolved, validated Spec (its Location and
// Names filled by the stack), then what the stack wires in.
type Args struct {
	Project string
	Labels  map[string]string
	Spec    Spec
	// DependsOn orders every child after these resources (API enablement).
	DependsOn []pulumi.Resource
	// Worker receives the invoker grant; WorkerURL is the task target and
	// the OIDC audience; WorkerTimeoutSeconds bounds task dispatch deadlines.
	Worker               Invoker
	WorkerURL            pulumi.StringInput
	WorkerTimeoutSeconds int
}

// Queue is a Cloud Tasks queue and the identities that use it. Its tagged
// fields are its outputs, registered and exported as they are (package
// outputmap).
type Queue struct {
	pulumi.ResourceState

	QueuePath              pulumi.StringOutput `pulumi:"queuePath"`
	Location               pulumi.StringOutput `pulumi:"location"`
	WorkerURL              pulumi.StringOutput `pulumi:"workerUrl"`
	Audience               pulumi.StringOutput `pulumi:"audience"`
	InvokerServiceAccount  pulumi.StringOutput `pulumi:"invokerServiceAccount"`
	EnqueuerServiceAccount pulumi.StringOutput `pulumi:"enqueuerServiceAccount"`
	WorkerTimeoutSeconds   pulumi.IntOutput    `pulumi:"workerTimeoutSeconds"`
}

// New declares the queue, its invoker and enqueuer service accounts and
// their grants, each on a single resource.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Queue, error) {
	if n := args.Spec.Names; n.Queue == "" || n.InvokerAccount == "" || n.EnqueuerAccount == "" || n.Location == "" {
		// The stack's resolve step fills them; a guess here could name
		// resources other than the ones validated and watched.
		return nil, fmt.Errorf("queue %q: spec not resolved (Names %+v; package stacks resolves it)", args.Spec.Name, n)
	}
	q := &Queue{}
	if err := ctx.RegisterComponentResource(TypeToken, name, q, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Composite(pulumi.Parent(q), pulumi.DependsOn(args.DependsOn))
	spec := args.Spec

	invoker, err := serviceaccount.NewAccount(ctx, name+"-invoker", &serviceaccount.AccountArgs{
		Project:     pulumi.String(args.Project),
		AccountId:   pulumi.String(spec.Names.InvokerAccount),
		DisplayName: pulumi.String(fmt.Sprintf("asyncjobs %s task invoker", spec.Name)),
		Description: pulumi.String("Identity in the OIDC tokens Cloud Tasks sends to the worker; may only invoke the worker."),
	}, child)
	if err != nil {
		return nil, err
	}
	enqueuer, err := serviceaccount.NewAccount(ctx, name+"-enqueuer", &serviceaccount.AccountArgs{
		Project:     pulumi.String(args.Project),
		AccountId:   pulumi.String(spec.Names.EnqueuerAccount),
		DisplayName: pulumi.String(fmt.Sprintf("asyncjobs %s task enqueuer", spec.Name)),
		Description: pulumi.String("Identity of producers: may add tasks to one queue and act as its invoker."),
	}, child)
	if err != nil {
		return nil, err
	}

	queue, err := cloudtasks.NewQueue(ctx, name, &cloudtasks.QueueArgs{
		Project:  pulumi.String(args.Project),
		Location: pulumi.String(spec.Names.Location),
		Name:     pulumi.String(spec.Names.Queue),
		RateLimits: &cloudtasks.QueueRateLimitsArgs{
			MaxDispatchesPerSecond:  pulumi.Float64(spec.RateLimits.MaxDispatchesPerSecond),
			MaxConcurrentDispatches: pulumi.Int(spec.RateLimits.MaxConcurrentDispatches),
		},
		RetryConfig: &cloudtasks.QueueRetryConfigArgs{
			MaxAttempts:      pulumi.Int(spec.Retry.MaxAttempts),
			MinBackoff:       pulumi.String(spec.Retry.MinBackoff.GoogleSeconds()),
			MaxBackoff:       pulumi.String(spec.Retry.MaxBackoff.GoogleSeconds()),
			MaxDoublings:     pulumi.Int(spec.Retry.MaxDoublings),
			MaxRetryDuration: pulumi.String(spec.Retry.MaxRetryDuration.GoogleSeconds()),
		},
		StackdriverLoggingConfig: &cloudtasks.QueueStackdriverLoggingConfigArgs{
			SamplingRatio: pulumi.Float64(spec.LoggingSamplingRatio),
		},
	}, child)
	if err != nil {
		return nil, err
	}

	if _, err := args.Worker.GrantInvoker(ctx, name+"-invoker-run", invoker.Member, invoker, child); err != nil {
		return nil, err
	}
	// The stack's own enqueuer account first, then the configured members.
	members := []pulumi.StringInput{enqueuer.Member}
	for _, m := range spec.Enqueuers {
		members = append(members, pulumi.String(m))
	}
	for i, m := range members {
		var account pulumi.Resource
		if i == 0 {
			account = enqueuer
		}
		grant := fmt.Sprintf("%s-enqueuer-%d", name, i)
		if _, err := cloudtasks.NewQueueIamMember(ctx, grant, &cloudtasks.QueueIamMemberArgs{
			Project:  queue.Project,
			Location: queue.Location,
			Name:     queue.Name,
			Role:     pulumi.String(gcpiam.RoleTasksEnqueuer),
			Member:   m,
		}, child, pulumi.ReplaceWith(gcpiam.Targets(queue, account))); err != nil {
			return nil, err
		}
		// actAs on the invoker only: needed to put the invoker's OIDC token on a task.
		if _, err := serviceaccount.NewIAMMember(ctx, grant+"-actas", &serviceaccount.IAMMemberArgs{
			ServiceAccountId: invoker.Name,
			Role:             pulumi.String(gcpiam.RoleServiceAccountUser),
			Member:           m,
		}, child, pulumi.ReplaceWith(gcpiam.Targets(invoker, account))); err != nil {
			return nil, err
		}
	}

	q.QueuePath = queue.ID().ToStringOutput()
	q.Location = queue.Location
	q.WorkerURL = args.WorkerURL.ToStringOutput()
	q.Audience = args.WorkerURL.ToStringOutput()
	q.InvokerServiceAccount = invoker.Email
	q.EnqueuerServiceAccount = enqueuer.Email
	q.WorkerTimeoutSeconds = pulumi.Int(args.WorkerTimeoutSeconds).ToIntOutput()
	if err := ctx.RegisterResourceOutputs(q, outputmap.Of(q)); err != nil {
		return nil, err
	}
	return q, nil
}
