// Package worker declares the private Cloud Run worker: a Cloud Run v2
// service that only authenticated callers holding roles/run.invoker on this
// service may call, running as its own runtime service account.
package worker

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/cloudrunv2"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/program/actas"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:worker:Worker"

// Args are the worker's settings: the project, the labels and the
// resolved, validated Spec (its Names filled by the stack), then
// what the stack wires in. The push identity, which Pub/Sub push
// subscriptions put in their OIDC tokens and which may invoke this service
// only, exists when Spec.Names.PushAccount is set.
type Args struct {
	Project string
	Labels  map[string]string
	Spec    Spec
	// Deployers are IAM members that deploy the stack. Each is granted
	// roles/iam.serviceAccountUser on the runtime account (and the push
	// account) only: creating a Cloud Run service that runs as an account,
	// or a push subscription whose OIDC tokens name it, needs actAs on it.
	// The service waits for these grants.
	Deployers []string
	// Gate, when set, holds the service (and the push subscriptions that
	// name the push account) back until the identity deploying may act as
	// the account: IAM grants take effect minutes after they are made, and
	// pulumi-gcp does not retry the refusal (see package actas).
	Gate actas.Gate
	// DependsOn orders every child after these resources (API enablement).
	DependsOn []pulumi.Resource
}

// Worker is the private Cloud Run worker. Its tagged fields are its
// outputs, registered and exported as they are (package outputmap).
type Worker struct {
	pulumi.ResourceState

	URL                 pulumi.StringOutput `pulumi:"url"`
	ServiceName         pulumi.StringOutput `pulumi:"serviceName"`
	ServiceAccountEmail pulumi.StringOutput `pulumi:"serviceAccount"`

	// Location is the service's region, for grants on it.
	Location pulumi.StringOutput
	// PushServiceAccountEmail is empty unless Spec.Names.PushAccount is set.
	// With Args.Gate it resolves once the deployer may act as the account,
	// so push subscriptions that name it can be created.
	PushServiceAccountEmail pulumi.StringOutput
	// PushActAs are the deployers' actAs grants on the push account;
	// push subscriptions depend on them.
	PushActAs []pulumi.Resource

	service *cloudrunv2.Service
}

// New declares the worker. Invoker grants for identities created elsewhere
// are made with GrantInvoker.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Worker, error) {
	if err := args.checkNames(); err != nil {
		return nil, err
	}
	w := &Worker{}
	if err := ctx.RegisterComponentResource(TypeToken, name, w, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Composite(pulumi.Parent(w), pulumi.DependsOn(args.DependsOn))
	spec := args.Spec

	sa, err := serviceaccount.NewAccount(ctx, name+"-runtime", &serviceaccount.AccountArgs{
		Project:     pulumi.String(args.Project),
		AccountId:   pulumi.String(spec.Names.RuntimeAccount),
		DisplayName: pulumi.String(fmt.Sprintf("asyncjobs %s runtime", spec.Name)),
		Description: pulumi.String("Runtime identity of the Cloud Run worker; holds no project roles."),
	}, child)
	if err != nil {
		return nil, err
	}

	actAs, err := grantActAs(ctx, name+"-runtime", sa, args.Deployers, child)
	if err != nil {
		return nil, err
	}

	envKeys := slices.Sorted(maps.Keys(spec.Env))
	envs := cloudrunv2.ServiceTemplateContainerEnvArray{}
	for _, k := range envKeys {
		envs = append(envs, cloudrunv2.ServiceTemplateContainerEnvArgs{Name: pulumi.String(k), Value: pulumi.String(spec.Env[k])})
	}

	svc, err := cloudrunv2.NewService(ctx, name, &cloudrunv2.ServiceArgs{
		Project:  pulumi.String(args.Project),
		Location: pulumi.String(spec.Names.Region),
		Name:     pulumi.String(spec.Names.Service),
		Ingress:  pulumi.String(spec.CloudRunIngress()),
		Labels:   pulumi.ToStringMap(args.Labels),
		Template: &cloudrunv2.ServiceTemplateArgs{
			ServiceAccount:                actas.Await(ctx, args.Gate, sa.Email, actAs),
			MaxInstanceRequestConcurrency: pulumi.Int(spec.Concurrency),
			Timeout:                       pulumi.String(spec.Timeout.GoogleSeconds()),
			Scaling: &cloudrunv2.ServiceTemplateScalingArgs{
				MinInstanceCount: pulumi.Int(spec.MinInstances),
				MaxInstanceCount: pulumi.Int(spec.MaxInstances),
			},
			Containers: cloudrunv2.ServiceTemplateContainerArray{
				cloudrunv2.ServiceTemplateContainerArgs{
					Image: pulumi.String(spec.Image),
					Ports: cloudrunv2.ServiceTemplateContainerPortArray{
						cloudrunv2.ServiceTemplateContainerPortArgs{ContainerPort: pulumi.Int(spec.Port)},
					},
					Resources: &cloudrunv2.ServiceTemplateContainerResourcesArgs{
						Limits: pulumi.StringMap{
							"cpu":    pulumi.String(spec.CPU),
							"memory": pulumi.String(spec.Memory),
						},
					},
					Envs: envs,
				},
			},
		},
	}, child, pulumi.DependsOn(actAs))
	if err != nil {
		return nil, err
	}

	w.service = svc
	w.URL = svc.Uri
	w.ServiceName = svc.Name
	w.Location = svc.Location
	w.ServiceAccountEmail = sa.Email

	for i, m := range spec.Invokers {
		if _, err := w.GrantInvoker(ctx, fmt.Sprintf("%s-invoker-%d", name, i), pulumi.String(m), nil, child); err != nil {
			return nil, err
		}
	}

	w.PushServiceAccountEmail = pulumi.String("").ToStringOutput()
	if spec.Names.PushAccount != "" {
		push, err := serviceaccount.NewAccount(ctx, name+"-push", &serviceaccount.AccountArgs{
			Project:     pulumi.String(args.Project),
			AccountId:   pulumi.String(spec.Names.PushAccount),
			DisplayName: pulumi.String(fmt.Sprintf("asyncjobs %s push invoker", spec.Name)),
			Description: pulumi.String("Identity in the OIDC tokens of Pub/Sub push deliveries; may only invoke the worker."),
		}, child)
		if err != nil {
			return nil, err
		}
		if _, err := w.GrantInvoker(ctx, name+"-push-invoker", push.Member, push, child); err != nil {
			return nil, err
		}
		pushActAs, err := grantActAs(ctx, name+"-push", push, args.Deployers, child)
		if err != nil {
			return nil, err
		}
		w.PushActAs = pushActAs
		w.PushServiceAccountEmail = actas.Await(ctx, args.Gate, push.Email, pushActAs)
	}

	if err := ctx.RegisterResourceOutputs(w, outputmap.Of(w)); err != nil {
		return nil, err
	}
	return w, nil
}

// checkNames refuses a spec that was not resolved: the stack's resolve
// step fills its region and physical names, and a guess here could name
// resources other than the ones validated and watched.
func (a Args) checkNames() error {
	n := a.Spec.Names
	if n.Service == "" || n.RuntimeAccount == "" || n.Region == "" {
		return fmt.Errorf("worker %q: spec not resolved (Names %+v; package stacks resolves it)", a.Spec.Name, n)
	}
	return nil
}

// GrantInvoker grants roles/run.invoker on this service, and nothing wider,
// to member; account is the stack's service account member names, if it
// is one (nil otherwise). opts should parent the grant to the component
// that asks for it. The grant is re-created whenever the service or the
// account is replaced: IAM on the old service goes with it, and a binding
// to a deleted account does not pass to a new one of the same e-mail.
func (w *Worker) GrantInvoker(
	ctx *pulumi.Context, name string, member pulumi.StringInput, account pulumi.Resource, opts ...pulumi.ResourceOption,
) (*cloudrunv2.ServiceIamMember, error) {
	return cloudrunv2.NewServiceIamMember(ctx, name, &cloudrunv2.ServiceIamMemberArgs{
		Name:     w.ServiceName,
		Location: w.Location,
		Role:     pulumi.String(gcpiam.RoleRunInvoker),
		Member:   member,
	}, append(opts, pulumi.ReplaceWith(gcpiam.Targets(w.service, account)))...)
}

// grantActAs grants roles/iam.serviceAccountUser on account, and nothing
// wider, to each deployer; re-created with the account.
func grantActAs(
	ctx *pulumi.Context, name string, account *serviceaccount.Account, deployers []string, opts ...pulumi.ResourceOption,
) ([]pulumi.Resource, error) {
	var grants []pulumi.Resource
	for i, m := range deployers {
		g, err := serviceaccount.NewIAMMember(ctx, fmt.Sprintf("%s-deployer-%d", name, i), &serviceaccount.IAMMemberArgs{
			ServiceAccountId: account.Name,
			Role:             pulumi.String(gcpiam.RoleServiceAccountUser),
			Member:           pulumi.String(m),
		}, append(opts, pulumi.ReplaceWith([]pulumi.Resource{account}))...)
		if err != nil {
			return nil, err
		}
		grants = append(grants, g)
	}
	return grants, nil
}
