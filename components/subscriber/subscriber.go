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
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/workload"
	"github.com/asyncjobs/asyncjobs/internal/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/gcpname"
	"github.com/asyncjobs/asyncjobs/internal/strictconfig"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:subscriber:Subscriber"

// gracePadding is added to the ack deadline: a pod told to stop finishes or
// nacks what it holds before it is killed.
const gracePadding = 30

// Spec is one subscriber's configuration.
type Spec struct {
	Name         string             `json:"name" doc:"Deployment name, DNS-1123 label"`
	Subscription string             `json:"subscription" doc:"<topic>/<subscription> of asyncjobs:topics to pull"`
	Container    workload.Container `json:"container" doc:"the subscriber container"`
	// int32 in the HorizontalPodAutoscaler (autoscaling/v2: minReplicas, maxReplicas, averageUtilization).
	MinReplicas          int    `json:"minReplicas" api:"int32" doc:"HPA minimum, >= 1"`
	MaxReplicas          int    `json:"maxReplicas" api:"int32" doc:"HPA maximum, >= minReplicas (10 is the documents' rate cap)"`
	TargetCPUUtilization int    `json:"targetCpuUtilization" api:"int32" doc:"HPA CPU target, 1-100 percent"`
	ServiceAccountID     string `json:"serviceAccountId" doc:"Google service account id (default <name>-sub)"`
	// Names are the physical names, filled by the stack's resolve step
	// (PhysicalNames); configuration cannot set them.
	Names Names `json:"-"`
}

// Names are the subscriber's physical names in Google Cloud.
type Names struct {
	Account string
}

// PhysicalNames derives the subscriber's physical names for the stack's
// name suffix (see gcpname.Physical).
func (s Spec) PhysicalNames(suffix string) Names {
	return Names{Account: gcpname.Physical(s.AccountID(), suffix)}
}

// DefaultSpec returns the defaults.
func DefaultSpec() Spec {
	return Spec{Container: workload.DefaultContainer(), MinReplicas: 1, MaxReplicas: 10, TargetCPUUtilization: 70}
}

// UnmarshalJSON decodes onto the defaults.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
}

// AccountID is the Google service account id before the stack suffix.
func (s Spec) AccountID() string {
	if s.ServiceAccountID != "" {
		return s.ServiceAccountID
	}
	return s.Name + "-sub"
}

// Validate checks the subscriber; the subscription reference is checked by the stack.
func (s Spec) Validate(path *field.Path, suffix string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(s.Name) {
		errs = append(errs, field.Invalid(path.Child("name"), s.Name, msg))
	}
	errs = append(errs, gcpname.ValidateServiceAccountID(path.Child("serviceAccountId"), s.PhysicalNames(suffix).Account)...)
	errs = append(errs, s.Container.Validate(path.Child("container"))...)
	if s.MinReplicas < 1 {
		errs = append(errs, field.Invalid(path.Child("minReplicas"), s.MinReplicas, "must be >= 1"))
	}
	if s.MaxReplicas < s.MinReplicas || s.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(path.Child("maxReplicas"), s.MaxReplicas, fmt.Sprintf("must be >= minReplicas (%d) and >= 1", s.MinReplicas)))
	}
	if s.TargetCPUUtilization < 1 || s.TargetCPUUtilization > 100 {
		errs = append(errs, field.Invalid(path.Child("targetCpuUtilization"), s.TargetCPUUtilization, "must be between 1 and 100"))
	}
	return errs
}

// Args are a subscriber's validated settings and where it runs.
type Args struct {
	Spec         Spec
	Project      string
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

// Subscriber is the Deployment, its HPA and PDB, and its identities.
type Subscriber struct {
	pulumi.ResourceState

	Deployment          pulumi.StringOutput `pulumi:"deployment"`
	ServiceAccountEmail pulumi.StringOutput `pulumi:"serviceAccountEmail"`
}

// New declares the subscriber.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Subscriber, error) {
	if args.Spec.Names.Account == "" || args.SubscriptionName == "" {
		// The stack's resolve step fills them; a guess here could name
		// resources other than the ones validated and watched.
		return nil, fmt.Errorf("subscriber %q: physical names not resolved (Spec.Names is %+v, SubscriptionName %q; set them from PhysicalNames)", args.Spec.Name, args.Spec.Names, args.SubscriptionName)
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
	s.Deployment = pulumi.String(spec.Name).ToStringOutput()
	s.ServiceAccountEmail = id.Email
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"deployment": s.Deployment, "serviceAccountEmail": s.ServiceAccountEmail}); err != nil {
		return nil, err
	}
	return s, nil
}
