package main

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"
	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/asyncjobs/asyncjobs/internal/opstool"
	"google.golang.org/api/option"
)

// deadLetterSource is the dead-letter subscription, used through
// synchronous pull so a run can stop exactly at --max or when it is empty.
type deadLetterSource interface {
	// Pull returns up to max messages; it may wait until ctx is done.
	Pull(ctx context.Context, max int) ([]*pubsubpb.ReceivedMessage, error)
	// Acknowledge removes messages for good.
	Acknowledge(ctx context.Context, ackIDs []string) error
	// ModifyAckDeadline holds messages for seconds; 0 hands them back (nack).
	ModifyAckDeadline(ctx context.Context, ackIDs []string, seconds int32) error
	// Name is the subscription's full name.
	Name() string
}

// publisher publishes to the original topic.
type publisher interface {
	Publish(ctx context.Context, msg *pubsub.Message) publishResult
	// Stop flushes and releases the publisher.
	Stop()
}

// publishResult is the outcome of one publish; Get blocks until the server
// answered and returns the server-assigned message ID.
type publishResult interface {
	Get(ctx context.Context) (serverID string, err error)
}

// subscriptionSource implements deadLetterSource with the generated client.
type subscriptionSource struct {
	client *pubsubapi.SubscriptionAdminClient
	name   string
}

func (s *subscriptionSource) Name() string { return s.name }

func (s *subscriptionSource) Pull(ctx context.Context, max int) ([]*pubsubpb.ReceivedMessage, error) {
	resp, err := s.client.Pull(ctx, &pubsubpb.PullRequest{Subscription: s.name, MaxMessages: int32(max)})
	if err != nil {
		return nil, err
	}
	return resp.GetReceivedMessages(), nil
}

func (s *subscriptionSource) Acknowledge(ctx context.Context, ackIDs []string) error {
	return s.client.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: s.name, AckIds: ackIDs})
}

func (s *subscriptionSource) ModifyAckDeadline(ctx context.Context, ackIDs []string, seconds int32) error {
	return s.client.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: s.name, AckIds: ackIDs, AckDeadlineSeconds: seconds})
}

// topicPublisher adapts *pubsub.Publisher to publisher.
type topicPublisher struct {
	p *pubsub.Publisher
}

func (t *topicPublisher) Publish(ctx context.Context, msg *pubsub.Message) publishResult {
	return t.p.Publish(ctx, msg)
}

func (t *topicPublisher) Stop() { t.p.Stop() }

// connection is an open Pub/Sub client.
type connection struct {
	client *pubsub.Client
	source deadLetterSource
}

func dial(ctx context.Context, cfg *config, opts []option.ClientOption) (*connection, error) {
	project := opstool.ProjectOf(cfg.deadLetterSubscription)
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to Pub/Sub: %w", err)
	}
	return &connection{
		client: client,
		source: &subscriptionSource{client: client.SubscriptionAdminClient, name: cfg.deadLetterSubscription},
	}, nil
}

// publisher returns a publisher for topic that keeps ordering keys: after a
// failed publish, later messages with the same key fail too instead of
// overtaking it.
func (c *connection) publisher(topic string) publisher {
	p := c.client.Publisher(topic)
	p.EnableMessageOrdering = true
	return &topicPublisher{p: p}
}

func (c *connection) close() {
	_ = c.client.Close()
}
