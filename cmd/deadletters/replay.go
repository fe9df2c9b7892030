package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// replayedFromAttr records, on a republished message, the message ID
	// of the dead letter it was replayed from.
	replayedFromAttr = "asyncjobs-replayed-from"
	// deadLetterAttrPrefix starts the attributes Pub/Sub adds when it
	// dead-letters a message (CloudPubSubDeadLetterSourceSubscription,
	// ...DeliveryCount, ...); they are dropped on replay so the message
	// goes back as it was first published.
	deadLetterAttrPrefix = "CloudPubSubDeadLetter"
	// sourceSubscriptionAttr names the subscription a dead letter came from.
	sourceSubscriptionAttr = "CloudPubSubDeadLetterSourceSubscription"
	// sourceDeliveryCountAttr holds the delivery attempts made on the
	// source subscription before the message was dead-lettered.
	sourceDeliveryCountAttr = "CloudPubSubDeadLetterSourceDeliveryCount"
	// publishWaitSlack is added to --publish-timeout for the wait on
	// publish results, which the client ends itself after the timeout.
	publishWaitSlack = 10 * time.Second
	// interruptGrace bounds the wait for publishes already sent once the
	// run is interrupted.
	interruptGrace = 2 * time.Second
)

// Results of one message.
const (
	resultReplayed    = "replayed"
	resultWouldReplay = "would-replay"
	resultSkipped     = "skipped"
	resultFailed      = "failed"
	resultNotAcked    = "not-acked"
)

// counts totals a replay run.
type counts struct {
	Replayed    int  `json:"replayed"`
	Skipped     int  `json:"skipped"`
	Failed      int  `json:"failed"`
	AckFailed   int  `json:"ackFailed,omitempty"`
	DryRun      bool `json:"dryRun,omitempty"`
	Interrupted bool `json:"interrupted,omitempty"`
	// AtMax: the run stopped at --max.
	AtMax bool `json:"atMax,omitempty"`
	// Incomplete: the run stopped before the backlog was exhausted, for
	// another reason than --max.
	Incomplete bool `json:"incomplete,omitempty"`
}

func (c counts) total() int { return c.Replayed + c.Skipped + c.Failed }

func (c counts) String() string {
	verb := "replayed"
	if c.DryRun {
		verb = "would replay"
	}
	s := fmt.Sprintf("%s %d, skipped %d, failed %d", verb, c.Replayed, c.Skipped, c.Failed)
	if c.AckFailed > 0 {
		s += fmt.Sprintf(", not acknowledged after publishing %d", c.AckFailed)
	}
	return s
}

// replay republishes dead letters to cfg.topic. pub is nil in a dry run.
func (a *app) replay(ctx context.Context, cfg *config, s *session, pub publisher, watch *rpcWatch, prog *progress) (err error) {
	var c counts
	c.DryRun = cfg.dryRun
	defer func() {
		prog.close()
		if rerr := s.release(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
		a.summarize(cfg, s, c)
		err = replayOutcome(err, c, cfg, s)
	}()

	var limiter *rate.Limiter
	if cfg.rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.rate), 1)
	}
	out := newViewWriter(a.stdout, cfg.json, a.width, colResult, colID, colKey, colSize, colDetail)
	out.before = prog.clear
	for {
		n := cfg.batch
		msgs, done, err := s.next(ctx, n)
		if err != nil {
			c.Interrupted = ctx.Err() != nil
			c.Incomplete = errors.Is(err, errStale)
			return err
		}
		if done {
			return nil
		}
		stopErr := a.replayBatch(ctx, cfg, s, pub, watch, limiter, msgs, out, &c, prog)
		prog.set(c.total(), c.String())
		if stopErr != nil {
			c.Interrupted = ctx.Err() != nil
			return stopErr
		}
		if c.AtMax {
			return nil
		}
	}
}

// replayOutcome turns the end of a run into its error and exit status.
func replayOutcome(err error, c counts, cfg *config, s *session) error {
	name := s.src.Name()
	switch {
	case c.AckFailed > 0:
		msg := fmt.Errorf("%d messages were republished but not acknowledged; they are still on %s and a later run would publish them again", c.AckFailed, name)
		return cli.WithExit(opstool.ExitNotAcknowledged, errors.Join(msg, err))
	case c.Interrupted:
		return cli.WithExit(opstool.ExitInterrupted, fmt.Errorf("interrupted (%s); unfinished messages were handed back to %s", c, name))
	case err != nil && !c.Incomplete:
		return err
	case c.Failed > 0:
		return cli.WithExit(opstool.ExitFailed, fmt.Errorf("%d messages failed to replay; they are back on %s", c.Failed, name))
	case c.Incomplete:
		return cli.WithExit(opstool.ExitIncomplete, fmt.Errorf("stopped with matching messages possibly left on %s (%v); run the replay again", name, err))
	}
	return nil
}

// pending is a publish in flight.
type pending struct {
	msg *pubsubpb.ReceivedMessage
	res publishResult
}

// replayBatch handles one pulled batch: it publishes the messages that pass
// the filters (until --max publishes), waits for every publish it started,
// and acknowledges exactly the dead letters whose publish returned a server
// ID. Messages past --max stay held and are handed back with the rest.
func (a *app) replayBatch(
	ctx context.Context, cfg *config, s *session, pub publisher, watch *rpcWatch, limiter *rate.Limiter,
	msgs []*pubsubpb.ReceivedMessage, out *viewWriter, c *counts, prog *progress,
) error {
	var inflight []pending
	var stopErr error
	for _, m := range msgs {
		if cfg.max > 0 && c.Replayed+c.Failed+len(inflight) >= cfg.max {
			c.AtMax = true
			break
		}
		v := a.viewOf(m, cfg)
		if reason := skipReason(m, cfg); reason != "" {
			v.Result, v.Detail = resultSkipped, reason
			c.Skipped++
			_ = out.write(v)
			prog.set(c.total(), c.String())
			continue
		}
		if cfg.dryRun {
			v.Result, v.Detail = resultWouldReplay, "to "+opstool.LastSegment(cfg.topic)
			c.Replayed++
			_ = out.write(v)
			prog.set(c.total(), c.String())
			continue
		}
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				stopErr = ctx.Err()
				if stopErr == nil {
					stopErr = err
				}
				break
			}
		}
		if err := ctx.Err(); err != nil {
			stopErr = err
			break
		}
		inflight = append(inflight, pending{msg: m, res: pub.Publish(ctx, republished(m))})
	}

	// Wait for the publishes started. After an interrupt, wait only a
	// short grace: a publish whose answer did not come is not
	// acknowledged, so its dead letter stays and a later run may publish
	// it again (it carries the replayed-from attribute to tell).
	waitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.publishTimeout+publishWaitSlack)
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(a.interruptGrace, cancel)
		context.AfterFunc(waitCtx, func() { t.Stop() })
	})
	defer stopGrace()
	var confirmed []*pubsubpb.ReceivedMessage
	var views []messageView
	for _, p := range inflight {
		v := a.viewOf(p.msg, cfg)
		id, err := p.res.Get(waitCtx)
		if err == nil && id == "" {
			err = errors.New("the server returned no message ID")
		}
		if err != nil {
			v.Result, v.Detail = resultFailed, publishFailure(err, waitCtx, ctx, watch)
			c.Failed++
			_ = out.write(v)
			prog.set(c.total(), c.String())
			continue
		}
		v.Result, v.NewID = resultReplayed, id
		confirmed = append(confirmed, p.msg)
		views = append(views, v)
	}
	ackCtx, ackCancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer ackCancel()
	ackErr := s.ack(ackCtx, confirmed)
	for _, v := range views {
		if ackErr != nil {
			v.Result = resultNotAcked
			v.Detail = "published as " + v.NewID + " but not acknowledged"
			v.NewID = ""
		}
		_ = out.write(v)
	}
	if ackErr != nil {
		c.AckFailed += len(confirmed)
		prog.event(ackErr.Error())
	}
	c.Replayed += len(confirmed)
	return stopErr
}

// publishFailure says why a publish failed: its gRPC status, or for a
// publish that ran out of time, the last error the server gave.
func publishFailure(err error, waitCtx, runCtx context.Context, watch *rpcWatch) string {
	if runCtx.Err() != nil && waitCtx.Err() != nil {
		return "no answer before the interrupt; not acknowledged, may be published twice"
	}
	if status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if last := watch.lastError(); last != nil {
			// The client retried until --publish-timeout; the status
			// behind it is what the operator needs.
			return describe(last) + " (retried until --publish-timeout; " + describe(err) + ")"
		}
	}
	return describe(err)
}

// skipReason says why m is not replayed, or "" to replay it.
func skipReason(m *pubsubpb.ReceivedMessage, cfg *config) string {
	attrs := m.GetMessage().GetAttributes()
	for _, f := range cfg.filters.Pairs {
		got, ok := attrs[f.Key]
		if !ok || got != f.Value {
			return fmt.Sprintf("filter: %s=%s, want %s", f.Key, displayValue(got, ok), f.Value)
		}
	}
	if src, ok := attrs[sourceSubscriptionAttr]; ok && cfg.sourceSubscription != "" {
		// Pub/Sub has been seen writing both the full name and the ID.
		if src != cfg.sourceSubscription && src != opstool.LastSegment(cfg.sourceSubscription) {
			return fmt.Sprintf("from subscription %s, not %s", opstool.LastSegment(src), opstool.LastSegment(cfg.sourceSubscription))
		}
	}
	return ""
}

func displayValue(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return v
}

// republished is the message to publish for dead letter m: its data,
// ordering key and original attributes, plus replayedFromAttr.
func republished(m *pubsubpb.ReceivedMessage) *pubsub.Message {
	src := m.GetMessage()
	attrs := make(map[string]string, len(src.GetAttributes())+1)
	for k, v := range src.GetAttributes() {
		if strings.HasPrefix(k, deadLetterAttrPrefix) {
			continue
		}
		attrs[k] = v
	}
	attrs[replayedFromAttr] = src.GetMessageId()
	return &pubsub.Message{
		Data:        src.GetData(),
		Attributes:  attrs,
		OrderingKey: src.GetOrderingKey(),
	}
}

// summarize prints the totals: a line on stdout, or a JSON object with
// --json, and on stderr what became of the messages.
func (a *app) summarize(cfg *config, s *session, c counts) {
	if cfg.json {
		_ = json.NewEncoder(a.stdout).Encode(struct {
			Summary counts `json:"summary"`
		}{c})
	} else {
		fmt.Fprintln(a.stdout, c.String())
	}
	name := s.src.Name()
	switch {
	case c.DryRun:
		fmt.Fprintf(a.stderr, "deadletters: dry run: nothing published; every message handed back to %s\n", name)
	case c.Skipped+c.Failed > 0:
		fmt.Fprintf(a.stderr, "deadletters: skipped and failed messages were handed back to %s\n", name)
	}
	if c.AtMax {
		fmt.Fprintf(a.stderr, "deadletters: stopped at --max %d; more matching messages may be waiting on %s\n", cfg.max, name)
	}
	if n := s.redelivered; n > 0 {
		fmt.Fprintf(a.stderr, "deadletters: %d messages came back during the run after their hold lapsed; each was handled once\n", n)
	}
}
