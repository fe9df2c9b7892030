package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// holdSeconds is how long pulled messages stay invisible to other
	// pulls: the longest ack deadline Pub/Sub allows. Handing a message
	// back at once would make the next pull return it again, and the run
	// could never tell the backlog apart from its own nacks. The run
	// renews the hold of every message it keeps (see renewAfter), so a
	// run may last longer than this; if the run dies, held messages come
	// back on their own within this long.
	holdSeconds = 600
	// renewAfter is how old a hold may get before it is renewed: well
	// within holdSeconds, so a renewal that needs a retry is still in time.
	renewAfter = holdSeconds * time.Second / 3
	// renewEvery is how often the renewer looks for holds to renew.
	renewEvery = 5 * time.Second
	// maxStalePulls bounds the pulls in a row that bring back only
	// messages this run already has (holds that lapsed): past it, the run
	// stops and says messages may be left.
	maxStalePulls = 50
	// settleChunk bounds the ack IDs sent in one request.
	settleChunk = 500
	// settleTimeout bounds the final hand-back, which runs even after an
	// interrupt.
	settleTimeout = 30 * time.Second
)

// errStale is returned by next when pulls keep bringing back only messages
// this run already has.
var errStale = errors.New("pulls kept returning only messages this run already had")

// hold is a message this run holds: its latest ack ID and when its ack
// deadline was last set.
type hold struct {
	ackID string
	since time.Time
}

// session pulls distinct messages from the dead-letter subscription, holds
// them while the run works on them (renewing the holds), and hands back
// every message that was not acknowledged when the run ends.
type session struct {
	src        deadLetterSource
	batch      int
	wait       time.Duration
	stderr     io.Writer
	now        func() time.Time
	renewEvery time.Duration

	mu    sync.Mutex
	held  map[string]*hold // message ID -> hold, not yet settled
	acked map[string]bool  // message IDs acknowledged in this run
	// redelivered counts messages pulled again after their hold lapsed.
	redelivered int
	renewErr    error

	stopRenewer func()
}

func newSession(src deadLetterSource, cfg *config, stderr io.Writer, now func() time.Time, every time.Duration) *session {
	if now == nil {
		now = time.Now
	}
	if every <= 0 {
		every = renewEvery
	}
	return &session{
		src:        src,
		batch:      cfg.batch,
		wait:       cfg.wait,
		stderr:     stderr,
		now:        now,
		renewEvery: every,
		held:       map[string]*hold{},
		acked:      map[string]bool{},
	}
}

// start runs the renewer until release.
func (s *session) start(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.renewEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.renew(ctx)
			}
		}
	}()
	s.stopRenewer = func() { cancel(); <-done }
}

// renew extends the holds that are due.
func (s *session) renew(ctx context.Context) {
	now := s.now()
	s.mu.Lock()
	var ids []string
	var due []*hold
	for _, h := range s.held {
		if now.Sub(h.since) >= renewAfter {
			ids = append(ids, h.ackID)
			due = append(due, h)
		}
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	err := s.settle(ctx, ids, func(ctx context.Context, ids []string) error {
		return s.src.ModifyAckDeadline(ctx, ids, holdSeconds)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.renewErr == nil && ctx.Err() == nil {
			s.renewErr = err
			fmt.Fprintf(s.stderr, "deadletters: renewing the hold on %d messages failed (%s); they may be delivered again\n", len(ids), describe(err))
		}
		return
	}
	for _, h := range due {
		h.since = now
	}
}

// next returns up to n messages this run has not seen yet. done is true
// when the backlog is exhausted: a pull found nothing within the wait. A
// pull that brings back only messages this run already has (their hold
// lapsed) is not the end: they are held again and the next pull follows.
func (s *session) next(ctx context.Context, n int) (fresh []*pubsubpb.ReceivedMessage, done bool, err error) {
	for stale := 0; ; stale++ {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		if stale >= maxStalePulls {
			return nil, false, errStale
		}
		pullCtx, cancel := context.WithTimeout(ctx, s.wait)
		msgs, err := s.src.Pull(pullCtx, n)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
				return nil, true, nil // nothing arrived within the wait
			}
			return nil, false, fmt.Errorf("pull from %s: %s", s.src.Name(), describe(err))
		}
		if len(msgs) == 0 {
			return nil, true, nil
		}
		fresh, err = s.take(ctx, msgs)
		if err != nil || len(fresh) > 0 {
			return fresh, false, err
		}
	}
}

// take holds the pulled msgs and returns those this run has not seen.
func (s *session) take(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) ([]*pubsubpb.ReceivedMessage, error) {
	now := s.now()
	var fresh []*pubsubpb.ReceivedMessage
	var again, holdIDs []string
	s.mu.Lock()
	for _, m := range msgs {
		id := m.GetMessage().GetMessageId()
		switch {
		case s.acked[id]:
			// A redelivery of a message already replayed in this run.
			again = append(again, m.GetAckId())
		case s.held[id] != nil:
			s.held[id].ackID, s.held[id].since = m.GetAckId(), now
			s.redelivered++
			holdIDs = append(holdIDs, m.GetAckId())
		default:
			s.held[id] = &hold{ackID: m.GetAckId(), since: now}
			fresh = append(fresh, m)
			holdIDs = append(holdIDs, m.GetAckId())
		}
	}
	s.mu.Unlock()
	holdErr := s.settle(ctx, holdIDs, func(ctx context.Context, ids []string) error {
		return s.src.ModifyAckDeadline(ctx, ids, holdSeconds)
	})
	if len(again) > 0 {
		if err := s.settle(ctx, again, s.src.Acknowledge); err != nil {
			fmt.Fprintf(s.stderr, "deadletters: acknowledging redelivered duplicates: %s\n", describe(err))
		}
	}
	if holdErr != nil {
		return nil, fmt.Errorf("hold pulled messages on %s: %s", s.src.Name(), describe(holdErr))
	}
	return fresh, nil
}

// ack acknowledges msgs, which this run has settled for good.
func (s *session) ack(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, 0, len(msgs))
	s.mu.Lock()
	for _, m := range msgs {
		ids = append(ids, s.held[m.GetMessage().GetMessageId()].ackID)
	}
	s.mu.Unlock()
	if err := s.settle(ctx, ids, s.src.Acknowledge); err != nil {
		return fmt.Errorf("acknowledge on %s: %s", s.src.Name(), describe(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		id := m.GetMessage().GetMessageId()
		delete(s.held, id)
		s.acked[id] = true
	}
	return nil
}

// release stops the renewer and hands every held message back to the
// subscription (a nack), so it can be pulled again at once. It runs even
// after ctx is cancelled.
func (s *session) release(ctx context.Context) error {
	if s.stopRenewer != nil {
		s.stopRenewer()
		s.stopRenewer = nil
	}
	s.mu.Lock()
	ids := make([]string, 0, len(s.held))
	for _, h := range s.held {
		ids = append(ids, h.ackID)
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	err := s.settle(ctx, ids, func(ctx context.Context, ids []string) error {
		return s.src.ModifyAckDeadline(ctx, ids, 0)
	})
	if err != nil {
		return fmt.Errorf("hand %d messages back to %s (they return by themselves within %ds): %s", len(ids), s.src.Name(), holdSeconds, describe(err))
	}
	s.mu.Lock()
	clear(s.held)
	s.mu.Unlock()
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
