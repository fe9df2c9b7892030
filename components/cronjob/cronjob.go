// Package cronjob declares a Kubernetes CronJob with safety settings
// (Forbid, deadlines, retries, Indexed parallelism) and a pod template the
// cluster autoscaler will not evict in the middle of a run.
package cronjob

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/pubsub"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/components/workload"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:cronjob:CronJob"

// SafeToEvict is the annotation that keeps the cluster autoscaler from
// evicting a running pod; it only works on the pod template.
const SafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"

// Args are the CronJob's settings: the project, the labels (its Google
// service account takes none) and the resolved, validated Spec (its Names
// filled by the stack), then where it runs and what it may use.
type Args struct {
	Project string
	Labels  map[string]string
	Spec    Spec
	// Namespace is the workloads' namespace (gke.Names.Namespace).
	Namespace    string
	WorkloadPool string
	// Grants are the job's resource-level roles, resolved by the stack to
	// the topics and subscriptions they name.
	Grants    []ResolvedGrant
	Provider  pulumi.ProviderResource
	Ready     []pulumi.Resource
	DependsOn []pulumi.Resource
}

// ResolvedGrant is a role on one Pub/Sub topic or subscription id.
type ResolvedGrant struct {
	Role         string
	Topic        pulumi.StringInput
	Subscription pulumi.StringInput
	// Resource is the topic or subscription: the grant is re-created with it.
	Resource pulumi.Resource
}

// CronJob is the CronJob, its Kubernetes service account and, when asked
// for, its Google identity. Its tagged fields are its outputs, registered
// and exported as they are (package outputmap).
type CronJob struct {
	pulumi.ResourceState

	// Kind is the workload's Kubernetes kind, CronJob.
	Kind string `pulumi:"kind"`
	// Identity is nil unless the job has a Google service account.
	Identity *workload.Identity
}

// New declares the CronJob.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*CronJob, error) {
	if args.Spec.GoogleServiceAccount != nil && args.Spec.Names.Account == "" {
		// The stack's resolve step fills it; a guess here could name an
		// account other than the one validated.
		return nil, fmt.Errorf("cronjob %q: physical names not resolved (Spec.Names is empty; package stacks resolves it)", args.Spec.Name)
	}
	c := &CronJob{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Composite(pulumi.Parent(c), pulumi.DependsOn(args.DependsOn))
	k8s := pulumi.Composite(pulumi.Provider(args.Provider), pulumi.DependsOn(args.Ready))
	spec := args.Spec
	labels := workload.Labels("cronjob", spec.Name)

	var ksaName pulumi.StringInput
	if spec.GoogleServiceAccount != nil {
		id, err := workload.NewIdentity(ctx, name, workload.IdentityArgs{
			Name: spec.Name, Namespace: args.Namespace, Project: args.Project,
			AccountID:    spec.Names.Account,
			Description:  "Identity of the " + spec.Name + " CronJob; holds only its configured resource-level roles.",
			WorkloadPool: args.WorkloadPool, Labels: labels, Ready: args.Ready,
		}, parent, k8s)
		if err != nil {
			return nil, err
		}
		c.Identity = id
		ksaName = id.KSA.Metadata.Name().Elem()
		for i, g := range args.Grants {
			grant := fmt.Sprintf("%s-grant-%d", name, i)
			var err error
			if g.Topic != nil {
				_, err = pubsub.NewTopicIAMMember(ctx, grant, &pubsub.TopicIAMMemberArgs{
					Topic: g.Topic, Role: pulumi.String(g.Role), Member: id.GSA.Member,
				}, parent, pulumi.ReplaceWith(gcpiam.Targets(g.Resource, id.GSA)))
			} else {
				_, err = pubsub.NewSubscriptionIAMMember(ctx, grant, &pubsub.SubscriptionIAMMemberArgs{
					Subscription: g.Subscription, Role: pulumi.String(g.Role), Member: id.GSA.Member,
				}, parent, pulumi.ReplaceWith(gcpiam.Targets(g.Resource, id.GSA)))
			}
			if err != nil {
				return nil, err
			}
		}
	} else {
		ksa, err := corev1.NewServiceAccount(ctx, name+"-ksa", &corev1.ServiceAccountArgs{
			Metadata:                     workload.Meta(spec.Name, pulumi.String(args.Namespace), labels),
			AutomountServiceAccountToken: pulumi.Bool(false),
		}, parent, k8s)
		if err != nil {
			return nil, err
		}
		ksaName = ksa.Metadata.Name().Elem()
	}

	job := &batchv1.JobSpecArgs{
		ActiveDeadlineSeconds: pulumi.Int(int(spec.ActiveDeadlineSeconds)),
		BackoffLimit:          pulumi.Int(int(spec.BackoffLimit)),
		Parallelism:           pulumi.Int(int(spec.Parallelism)),
		CompletionMode:        pulumi.String(spec.CompletionMode),
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Labels:      labels,
				Annotations: pulumi.StringMap{SafeToEvict: pulumi.String("false")},
			},
			Spec: workload.Template(workload.PodSpec{
				Name:               spec.Name,
				ServiceAccountName: ksaName,
				Container:          spec.Container,
				RestartPolicy:      spec.RestartPolicy,
			}),
		},
	}
	if spec.Completions > 0 {
		job.Completions = pulumi.Int(int(spec.Completions))
	}
	cronSpec := &batchv1.CronJobSpecArgs{
		Schedule:                   pulumi.String(spec.Schedule),
		ConcurrencyPolicy:          pulumi.String(spec.ConcurrencyPolicy),
		StartingDeadlineSeconds:    pulumi.Int(int(spec.StartingDeadlineSeconds)),
		SuccessfulJobsHistoryLimit: pulumi.Int(int(spec.SuccessfulJobsHistoryLimit)),
		FailedJobsHistoryLimit:     pulumi.Int(int(spec.FailedJobsHistoryLimit)),
		Suspend:                    pulumi.Bool(spec.Suspend),
		JobTemplate: &batchv1.JobTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{Labels: labels},
			Spec:     job,
		},
	}
	if spec.TimeZone != "" {
		cronSpec.TimeZone = pulumi.String(spec.TimeZone)
	}
	if _, err := batchv1.NewCronJob(ctx, name, &batchv1.CronJobArgs{
		Metadata: workload.Meta(spec.Name, pulumi.String(args.Namespace), labels),
		Spec:     cronSpec,
	}, parent, k8s); err != nil {
		return nil, err
	}
	c.Kind = "CronJob"
	if err := ctx.RegisterResourceOutputs(c, outputmap.Of(c)); err != nil {
		return nil, err
	}
	return c, nil
}
