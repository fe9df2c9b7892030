package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	client  *pubsub.Client
	source  deadLetterSource
	watch   *rpcWatch
	timeout time.Duration
}

func dial(ctx context.Context, cfg *config, opts []option.ClientOption, watch *rpcWatch) (*connection, error) {
	project := opstool.ProjectOf(cfg.deadLetterSubscription)
	opts = append(opts, option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(watch.intercept)))
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to Pub/Sub: %w", err)
	}
	return &connection{
		client:  client,
		source:  &subscriptionSource{client: client.SubscriptionAdminClient, name: cfg.deadLetterSubscription},
		watch:   watch,
		timeout: cfg.publishTimeout,
	}, nil
}

// publisher returns a publisher for topic that keeps ordering keys: after a
// failed publish, later messages with the same key fail too instead of
// overtaking it. A publish is retried on transient errors for at most the
// connection's publish timeout.
func (c *connection) publisher(topic string) publisher {
	p := c.client.Publisher(topic)
	p.EnableMessageOrdering = true
	p.PublishSettings.Timeout = c.timeout
	return &topicPublisher{p: p}
}

func (c *connection) close() {
	_ = c.client.Close()
}

// rpcWatch sees every Publish RPC the client makes, retries included, so
// the run can say at once that publishing is failing and why (the status
// code behind a publish that finally ends with "context deadline
// exceeded"), instead of staying silent until the publish timeout.
type rpcWatch struct {
	mu      sync.Mutex
	last    error // the last failed Publish RPC while failing, else nil
	failing bool
	// event is told when publishing starts failing and when it recovers.
	event func(string)
}

func (w *rpcWatch) intercept(
	ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption,
) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if !strings.HasSuffix(method, "/Publish") {
		return err
	}
	w.mu.Lock()
	var msg string
	switch {
	case err != nil && status.Code(err) != codes.Canceled:
		if !w.failing {
			msg = "publishing is failing: " + describe(err) + "; retrying"
		}
		w.failing, w.last = true, err
	case err == nil && w.failing:
		w.failing, w.last = false, nil
		msg = "publishing recovered"
	}
	event := w.event
	w.mu.Unlock()
	if msg != "" && event != nil {
		event(msg)
	}
	return err
}

// lastError returns the last failed Publish RPC while publishing fails.
func (w *rpcWatch) lastError() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// describe renders err with the gRPC status code in the canonical upper-case
// form (UNAVAILABLE, NOT_FOUND, ...) when it carries one.
func describe(err error) string {
	if err == nil {
		return ""
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.OK && s.Code() != codes.Unknown {
		return codeName(s.Code()) + ": " + s.Message()
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		s := se.GRPCStatus()
		if s.Code() != codes.OK && s.Code() != codes.Unknown {
			return codeName(s.Code()) + ": " + s.Message()
		}
	}
	return err.Error()
}

// codeName is the canonical name of a gRPC status code: UNAVAILABLE for
// codes.Unavailable.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
