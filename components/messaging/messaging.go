// Package messaging declares a Pub/Sub topic with its worker subscriptions.
// Every worker subscription dead-letters: after the configured number of
// delivery attempts a message moves to a dead-letter topic, where a pull
// subscription keeps it for inspection and replay. The Pub/Sub service agent
// gets exactly the two grants dead-lettering needs.
package messaging

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/pubsub"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:messaging:Topic"

// Labels that mark a resource's role, read by operators and policy rules.
const (
	RoleLabel           = "asyncjobs-role"
	RoleWorker          = "worker"
	RoleDeadLetter      = "dead-letter"
	RoleDeadLetterTopic = "dead-letter-topic"
)

// Args are the topic's settings: the project, the labels and the
// resolved, validated Spec (its Names filled by the stack), then what the
// stack wires in.
type Args struct {
	Project string
	Labels  map[string]string
	Spec    TopicSpec
	// DependsOn orders every child after these resources (API enablement).
	DependsOn []pulumi.Resource
	// ServiceAgent is the Pub/Sub service agent's IAM member
	// ("serviceAccount:service-<number>@gcp-sa-pubsub.iam.gserviceaccount.com").
	ServiceAgent pulumi.StringInput
	// Push delivery: the worker's URL (endpoint base and OIDC audience), the
	// e-mail of the identity in the push tokens. Needed only when a
	// subscription pushes.
	WorkerURL        pulumi.StringInput
	PushServiceEmail pulumi.StringInput
}

// Subscription is a worker subscription; its tagged fields are its
// outputs (package outputmap).
type Subscription struct {
	// Resource is the subscription itself: grants on it are replaced with it.
	Resource               *pubsub.Subscription
	Subscription           pulumi.StringOutput `pulumi:"subscription"`
	DeadLetterTopic        pulumi.StringOutput `pulumi:"deadLetterTopic"`
	DeadLetterSubscription pulumi.StringOutput `pulumi:"deadLetterSubscription"`
}

// Topic is a topic, its worker subscriptions and their dead-letter pairs.
// Its tagged fields are its outputs, registered and exported as they are
// (package outputmap).
type Topic struct {
	pulumi.ResourceState

	TopicID       pulumi.StringOutput     `pulumi:"topic"`
	Subscriptions map[string]Subscription `pulumi:"subscriptions"`
	// Resource is the topic itself: grants on it are replaced with it.
	Resource *pubsub.Topic
}

// New declares the topic and everything under it.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Topic, error) {
	if err := checkNames(args.Spec); err != nil {
		return nil, err
	}
	t := &Topic{Subscriptions: map[string]Subscription{}}
	if err := ctx.RegisterComponentResource(TypeToken, name, t, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Composite(pulumi.Parent(t), pulumi.DependsOn(args.DependsOn))
	spec := args.Spec

	topicArgs := &pubsub.TopicArgs{
		Project: pulumi.String(args.Project),
		Name:    pulumi.String(spec.Names.Topic),
		Labels:  labels(args.Labels, RoleWorker),
	}
	if spec.MessageRetention.Set {
		topicArgs.MessageRetentionDuration = pulumi.String(spec.MessageRetention.GoogleSeconds())
	}
	topic, err := pubsub.NewTopic(ctx, name, topicArgs, child)
	if err != nil {
		return nil, err
	}
	t.Resource = topic
	for i, m := range spec.Publishers {
		if _, err := pubsub.NewTopicIAMMember(ctx, fmt.Sprintf("%s-publisher-%d", name, i), &pubsub.TopicIAMMemberArgs{
			Project: topic.Project,
			Topic:   topic.Name,
			Role:    pulumi.String(gcpiam.RolePubSubPublisher),
			Member:  pulumi.String(m),
		}, child, pulumi.ReplaceWith([]pulumi.Resource{topic})); err != nil {
			return nil, err
		}
	}

	for _, s := range spec.Subscriptions {
		sub, err := newSubscription(ctx, name+"-"+s.Name, topic, s, args, child)
		if err != nil {
			return nil, err
		}
		t.Subscriptions[s.Name] = sub
	}
	t.TopicID = topic.ID().ToStringOutput()
	if err := ctx.RegisterResourceOutputs(t, outputmap.Of(t)); err != nil {
		return nil, err
	}
	return t, nil
}

func newSubscription(ctx *pulumi.Context, name string, topic *pubsub.Topic, s SubscriptionSpec, args Args, child pulumi.ResourceOption) (Subscription, error) {
	dlName := s.Names.DeadLetter
	never := &pubsub.SubscriptionExpirationPolicyArgs{Ttl: pulumi.String("")}

	dlTopic, err := pubsub.NewTopic(ctx, name+"-dl", &pubsub.TopicArgs{
		Project: pulumi.String(args.Project),
		Name:    pulumi.String(dlName),
		Labels:  labels(args.Labels, RoleDeadLetterTopic),
	}, child)
	if err != nil {
		return Subscription{}, err
	}
	// Messages published to a topic without a subscription are lost, so the
	// dead-letter topic always gets one; it never expires.
	dlSub, err := pubsub.NewSubscription(ctx, name+"-dl", &pubsub.SubscriptionArgs{
		Project:                  pulumi.String(args.Project),
		Name:                     pulumi.String(dlName),
		Topic:                    dlTopic.ID(),
		AckDeadlineSeconds:       pulumi.Int(int(defaultAckDeadline.Seconds())),
		MessageRetentionDuration: pulumi.String(s.DeadLetter.MessageRetention.GoogleSeconds()),
		ExpirationPolicy:         never,
		Labels:                   labels(args.Labels, RoleDeadLetter),
	}, child)
	if err != nil {
		return Subscription{}, err
	}

	subArgs := &pubsub.SubscriptionArgs{
		Project:                   pulumi.String(args.Project),
		Name:                      pulumi.String(s.Names.Subscription),
		Topic:                     topic.ID(),
		AckDeadlineSeconds:        pulumi.Int(int(s.AckDeadline.WholeSeconds())),
		MessageRetentionDuration:  pulumi.String(s.MessageRetention.GoogleSeconds()),
		ExpirationPolicy:          never,
		EnableExactlyOnceDelivery: pulumi.Bool(s.ExactlyOnce),
		EnableMessageOrdering:     pulumi.Bool(s.Ordering),
		Labels:                    labels(args.Labels, RoleWorker),
		DeadLetterPolicy: &pubsub.SubscriptionDeadLetterPolicyArgs{
			DeadLetterTopic:     dlTopic.ID(),
			MaxDeliveryAttempts: pulumi.Int(s.DeadLetter.MaxDeliveryAttempts),
		},
	}
	if s.Filter != "" {
		subArgs.Filter = pulumi.String(s.Filter)
	}
	if s.Retry != nil {
		subArgs.RetryPolicy = &pubsub.SubscriptionRetryPolicyArgs{
			MinimumBackoff: pulumi.String(s.Retry.MinimumBackoff.GoogleSeconds()),
			MaximumBackoff: pulumi.String(s.Retry.MaximumBackoff.GoogleSeconds()),
		}
	}
	if s.Push != nil {
		if args.WorkerURL == nil || args.PushServiceEmail == nil {
			return Subscription{}, fmt.Errorf("subscription %s pushes to the worker but no worker URL or push identity was given", s.Name)
		}
		subArgs.PushConfig = &pubsub.SubscriptionPushConfigArgs{
			PushEndpoint: pulumi.Sprintf("%s%s", args.WorkerURL, s.Push.Path),
			OidcToken: &pubsub.SubscriptionPushConfigOidcTokenArgs{
				ServiceAccountEmail: args.PushServiceEmail,
				Audience:            args.WorkerURL,
			},
		}
	}
	sub, err := pubsub.NewSubscription(ctx, name, subArgs, child)
	if err != nil {
		return Subscription{}, err
	}

	// The service agent publishes dead letters and acknowledges them on the
	// source subscription. Both grants are re-created whenever the resource
	// they sit on is replaced (a new filter or topic replaces a subscription,
	// and IAM on the old one is gone with it).
	if _, err := pubsub.NewTopicIAMMember(ctx, name+"-dl-agent-publisher", &pubsub.TopicIAMMemberArgs{
		Project: dlTopic.Project,
		Topic:   dlTopic.Name,
		Role:    pulumi.String(gcpiam.RolePubSubPublisher),
		Member:  args.ServiceAgent,
	}, child, pulumi.ReplaceWith([]pulumi.Resource{dlTopic})); err != nil {
		return Subscription{}, err
	}
	if _, err := pubsub.NewSubscriptionIAMMember(ctx, name+"-dl-agent-subscriber", &pubsub.SubscriptionIAMMemberArgs{
		Project:      sub.Project,
		Subscription: sub.Name,
		Role:         pulumi.String(gcpiam.RolePubSubSubscriber),
		Member:       args.ServiceAgent,
	}, child, pulumi.ReplaceWith([]pulumi.Resource{sub})); err != nil {
		return Subscription{}, err
	}
	for i, m := range s.Subscribers {
		if _, err := pubsub.NewSubscriptionIAMMember(ctx, fmt.Sprintf("%s-subscriber-%d", name, i), &pubsub.SubscriptionIAMMemberArgs{
			Project:      sub.Project,
			Subscription: sub.Name,
			Role:         pulumi.String(gcpiam.RolePubSubSubscriber),
			Member:       pulumi.String(m),
		}, child, pulumi.ReplaceWith([]pulumi.Resource{sub})); err != nil {
			return Subscription{}, err
		}
	}
	return Subscription{
		Resource:               sub,
		Subscription:           sub.ID().ToStringOutput(),
		DeadLetterTopic:        dlTopic.ID().ToStringOutput(),
		DeadLetterSubscription: dlSub.ID().ToStringOutput(),
	}, nil
}

// checkNames refuses a spec whose physical names were not resolved: the
// stack's resolve step fills them, and a guess here could name resources
// other than the ones validated and watched.
func checkNames(spec TopicSpec) error {
	if spec.Names.Topic == "" {
		return fmt.Errorf("topic %q: physical names not resolved (Spec.Names is %+v; package stacks resolves it)", spec.Name, spec.Names)
	}
	for _, s := range spec.Subscriptions {
		if s.Names.Subscription == "" || s.Names.DeadLetter == "" {
			return fmt.Errorf("topic %q subscription %q: physical names not resolved (Names is %+v; package stacks resolves it)", spec.Name, s.Name, s.Names)
		}
	}
	return nil
}

func labels(base map[string]string, role string) pulumi.StringMap {
	m := pulumi.StringMap{RoleLabel: pulumi.String(role)}
	for k, v := range base {
		m[k] = pulumi.String(v)
	}
	return m
}
