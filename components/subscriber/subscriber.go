// Package subscriber declares a Deployment on GKE that pulls one Pub/Sub
// subscription, capped by a HorizontalPodAutoscaler (its maxReplicas is the
// rate control), with its own Kubernetes and Google identities bound
// through Workload Identity.
package subscriber

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/pubsub"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/components/workload"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:subscriber:Subscriber"

// gracePadding is added to the ack deadline: a pod told to stop finishes or
// nacks what it holds before it is killed.
const gracePadding = 30

// Args are the subscriber's settings: the project, the labels (its
// Google service account takes none) and the resolved, validated Spec (its
// Names filled by the stack), then where it runs and what it pulls.
type Args struct {
	Project string
	Labels  map[string]string
	Spec    Spec
	// Namespace is the workloads' namespace (gke.Names.Namespace).
	Namespace    string
	WorkloadPool string
	// SubscriptionID is the full subscription id; SubscriptionName the
	// physical name passed to the container.
	SubscriptionID   pulumi.StringInput
	SubscriptionName string
	// Subscription is the subscription resource: the pull grant is
	// re-created with it.
	Subscription pulumi.Resource
	// AckDeadlineSeconds sets the termination grace period.
	AckDeadlineSeconds int
	Provider           pulumi.ProviderResource
	Ready              []pulumi.Resource
	DependsOn          []pulumi.Resource
}

// Subscriber is the Deployment, its HPA and PDB, and its identities. Its
// tagged fields are its outputs, registered and exported as they are
// (package outputmap).
type Subscriber struct {
	pulumi.ResourceState

	// Kind is the workload's Kubernetes kind, Deployment.
	Kind                string              `pulumi:"kind"`
	ServiceAccountEmail pulumi.StringOutput `pulumi:"serviceAccount"`
}

// New declares the subscriber.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Subscriber, error) {
	if args.Spec.Names.Account == "" || args.SubscriptionName == "" {
		// The stack's resolve step fills them; a guess here could name
		// resources other than the ones validated and watched.
		return nil, fmt.Errorf("subscriber %q: physical names not resolved (Spec.Names is %+v, SubscriptionName %q; package stacks resolves them)",
			args.Spec.Name, args.Spec.Names, args.SubscriptionName)
	}
	s := &Subscriber{}
	if err := ctx.RegisterComponentResource(TypeToken, name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Composite(pulumi.Parent(s), pulumi.DependsOn(args.DependsOn))
	k8s := pulumi.Composite(pulumi.Provider(args.Provider), pulumi.DependsOn(args.Ready))
	spec := args.Spec
	labels := workload.Labels("subscriber", spec.Name)

	id, err := workload.NewIdentity(ctx, name, workload.IdentityArgs{
		Name: spec.Name, Namespace: args.Namespace, Project: args.Project,
		AccountID:    spec.Names.Account,
		Description:  "Pub/Sub subscriber on GKE; may only pull its one subscription.",
		WorkloadPool: args.WorkloadPool, Labels: labels, Ready: args.Ready,
	}, parent, k8s)
	if err != nil {
		return nil, err
	}
	if _, err := pubsub.NewSubscriptionIAMMember(ctx, name+"-pull", &pubsub.SubscriptionIAMMemberArgs{
		Subscription: args.SubscriptionID,
		Role:         pulumi.String(gcpiam.RolePubSubSubscriber),
		Member:       id.GSA.Member,
	}, parent, pulumi.ReplaceWith(gcpiam.Targets(args.Subscription, id.GSA))); err != nil {
		return nil, err
	}

	selector := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(spec.Name)}
	dep, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: workload.Meta(spec.Name, pulumi.String(args.Namespace), labels),
		// No replicas: the HPA owns the count (a fixed value fights it on every update).
		Spec: &appsv1.DeploymentSpecArgs{
			Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: workload.Template(workload.PodSpec{
					Name:               spec.Name,
					ServiceAccountName: id.KSA.Metadata.Name().Elem(),
					Container:          spec.Container,
					ExtraEnv: corev1.EnvVarArray{
						corev1.EnvVarArgs{Name: pulumi.String("GOOGLE_CLOUD_PROJECT"), Value: pulumi.String(args.Project)},
						corev1.EnvVarArgs{Name: pulumi.String("PUBSUB_SUBSCRIPTION"), Value: pulumi.String(args.SubscriptionName)},
					},
					TerminationGracePeriodSeconds: args.AckDeadlineSeconds + gracePadding,
				}),
			},
		},
	}, parent, k8s)
	if err != nil {
		return nil, err
	}
	if _, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, name, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: workload.Meta(spec.Name, pulumi.String(args.Namespace), labels),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"),
				Kind:       pulumi.String("Deployment"),
				Name:       pulumi.String(spec.Name),
			},
			MinReplicas: pulumi.Int(spec.MinReplicas),
			MaxReplicas: pulumi.Int(spec.MaxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name: pulumi.String("cpu"),
					Target: &autoscalingv2.MetricTargetArgs{
						Type:               pulumi.String("Utilization"),
						AverageUtilization: pulumi.Int(spec.TargetCPUUtilization),
					},
				},
			}},
		},
	}, parent, k8s, pulumi.DependsOn([]pulumi.Resource{dep})); err != nil {
		return nil, err
	}
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: workload.Meta(spec.Name, pulumi.String(args.Namespace), labels),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: selector},
			MaxUnavailable: pulumi.Int(1),
		},
	}, parent, k8s); err != nil {
		return nil, err
	}
	s.Kind = "Deployment"
	s.ServiceAccountEmail = id.Email
	if err := ctx.RegisterResourceOutputs(s, outputmap.Of(s)); err != nil {
		return nil, err
	}
	return s, nil
}
