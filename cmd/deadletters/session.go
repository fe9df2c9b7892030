package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// holdSeconds is how long pulled messages stay invisible to other
	// pulls: the longest ack deadline Pub/Sub allows. Handing a message
	// back at once would make the next pull return it again, and the run
	// could never tell the backlog apart from its own nacks. If the run
	// dies, held messages come back on their own after this long.
	holdSeconds = 600
	// settleChunk bounds the ack IDs sent in one request.
	settleChunk = 500
	// settleTimeout bounds the final hand-back, which runs even after an
	// interrupt.
	settleTimeout = 30 * time.Second
)

// session pulls distinct messages from the dead-letter subscription, holds
// them while the run works on them, and hands back every message that was
// not acknowledged when the run ends.
type session struct {
	src    deadLetterSource
	batch  int
	max    int
	wait   time.Duration
	stderr io.Writer

	held  map[string]string // message ID -> latest ack ID, not yet settled
	acked map[string]bool   // message IDs acknowledged in this run
	taken int               // distinct messages handed out so far
}

func newSession(src deadLetterSource, cfg *config, stderr io.Writer) *session {
	return &session{
		src:    src,
		batch:  cfg.batch,
		max:    cfg.max,
		wait:   cfg.wait,
		stderr: stderr,
		held:   map[string]string{},
		acked:  map[string]bool{},
	}
}

// next returns the next messages this run has not seen yet. It returns none
// when --max is reached, when a pull finds nothing within the wait, or when
// a pull brings back only messages this run already has.
func (s *session) next(ctx context.Context) ([]*pubsubpb.ReceivedMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := s.batch
	if s.max > 0 {
		if s.taken >= s.max {
			return nil, nil
		}
		n = min(n, s.max-s.taken)
	}
	pullCtx, cancel := context.WithTimeout(ctx, s.wait)
	msgs, err := s.src.Pull(pullCtx, n)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			return nil, nil // nothing arrived within the wait
		}
		return nil, fmt.Errorf("pull from %s: %w", s.src.Name(), err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	var fresh []*pubsubpb.ReceivedMessage
	var again []string
	for _, m := range msgs {
		id := m.GetMessage().GetMessageId()
		switch {
		case s.acked[id]:
			// A redelivery of a message already replayed in this run.
			again = append(again, m.GetAckId())
		case s.held[id] != "":
			s.held[id] = m.GetAckId()
		default:
			s.held[id] = m.GetAckId()
			fresh = append(fresh, m)
		}
	}
	holdErr := s.settle(ctx, ackIDs(msgs), func(ctx context.Context, ids []string) error {
		return s.src.ModifyAckDeadline(ctx, ids, holdSeconds)
	})
	if len(again) > 0 {
		if err := s.settle(ctx, again, s.src.Acknowledge); err != nil {
			fmt.Fprintf(s.stderr, "deadletters: acknowledging redelivered duplicates: %v\n", err)
		}
	}
	if holdErr != nil {
		return nil, fmt.Errorf("hold pulled messages on %s: %w", s.src.Name(), holdErr)
	}
	s.taken += len(fresh)
	return fresh, nil
}

// ack acknowledges msgs, which this run has settled for good.
func (s *session) ack(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, s.held[m.GetMessage().GetMessageId()])
	}
	if err := s.settle(ctx, ids, s.src.Acknowledge); err != nil {
		return fmt.Errorf("acknowledge on %s: %w", s.src.Name(), err)
	}
	for _, m := range msgs {
		id := m.GetMessage().GetMessageId()
		delete(s.held, id)
		s.acked[id] = true
	}
	return nil
}

// release hands every held message back to the subscription (a nack), so
// it can be pulled again at once. It runs even after ctx is cancelled.
func (s *session) release(ctx context.Context) error {
	if len(s.held) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	ids := make([]string, 0, len(s.held))
	for _, ackID := range s.held {
		ids = append(ids, ackID)
	}
	err := s.settle(ctx, ids, func(ctx context.Context, ids []string) error {
		return s.src.ModifyAckDeadline(ctx, ids, 0)
	})
	if err != nil {
		return fmt.Errorf("hand %d messages back to %s (they return by themselves within %ds): %w", len(ids), s.src.Name(), holdSeconds, err)
	}
	clear(s.held)
	return nil
}

// settle calls fn on ids in chunks.
func (s *session) settle(ctx context.Context, ids []string, fn func(context.Context, []string) error) error {
	for start := 0; start < len(ids); start += settleChunk {
		end := min(start+settleChunk, len(ids))
		if err := fn(ctx, ids[start:end]); err != nil {
			return err
		}
	}
	return nil
}

func ackIDs(msgs []*pubsubpb.ReceivedMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetAckId()
	}
	return ids
}
