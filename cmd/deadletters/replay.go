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
	"github.com/asyncjobs/asyncjobs/internal/opstool"
	"golang.org/x/time/rate"
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
	// publishWait bounds the wait for publish results, which is not cut
	// short by an interrupt: a message that reached the topic must be
	// acknowledged, or a later run would replay it again.
	publishWait = 2 * time.Minute
)

// Results of one message.
const (
	resultReplayed    = "replayed"
	resultWouldReplay = "would-replay"
	resultSkipped     = "skipped"
	resultFailed      = "failed"
)

// counts totals a replay run.
type counts struct {
	Replayed    int  `json:"replayed"`
	Skipped     int  `json:"skipped"`
	Failed      int  `json:"failed"`
	AckFailed   int  `json:"ackFailed,omitempty"`
	DryRun      bool `json:"dryRun,omitempty"`
	Interrupted bool `json:"interrupted,omitempty"`
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
func (a *app) replay(ctx context.Context, cfg *config, s *session, pub publisher) (err error) {
	var c counts
	c.DryRun = cfg.dryRun
	defer func() {
		if rerr := s.release(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
		a.summarize(cfg, s, c)
		if c.Interrupted {
			err = fmt.Errorf("interrupted (%s); unprocessed messages were handed back to %s: %w", c, s.src.Name(), err)
		}
		if err == nil && c.Failed > 0 {
			err = fmt.Errorf("%d messages failed to replay; they are back on %s", c.Failed, s.src.Name())
		}
		if err == nil && c.AckFailed > 0 {
			err = fmt.Errorf("%d messages were republished but not acknowledged; a later run may replay them again", c.AckFailed)
		}
	}()

	var limiter *rate.Limiter
	if cfg.rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.rate), 1)
	}
	out := newViewWriter(a.stdout, cfg.json, colResult, colID, colPublish, colSize, colKey, colAttrs, colDetail, colData)
	prog := newProgress(a.stderr, cfg.progressEvery)
	for {
		msgs, err := s.next(ctx)
		if err != nil {
			c.Interrupted = ctx.Err() != nil
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		stopErr := a.replayBatch(ctx, cfg, s, pub, limiter, msgs, out, &c)
		if err := out.flush(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		prog.update(c.total(), c.String())
		if stopErr != nil {
			c.Interrupted = ctx.Err() != nil
			return stopErr
		}
	}
}

// pending is a publish in flight.
type pending struct {
	msg *pubsubpb.ReceivedMessage
	res publishResult
}

// replayBatch handles one pulled batch: it publishes the messages that pass
// the filters, waits for every publish it started, and acknowledges exactly
// the dead letters whose publish returned a server ID.
func (a *app) replayBatch(ctx context.Context, cfg *config, s *session, pub publisher, limiter *rate.Limiter, msgs []*pubsubpb.ReceivedMessage, out *viewWriter, c *counts) error {
	var inflight []pending
	var stopErr error
	for _, m := range msgs {
		v := viewOf(m, cfg.excerpt)
		if reason := skipReason(m, cfg); reason != "" {
			v.Result, v.Detail = resultSkipped, reason
			c.Skipped++
			_ = out.write(v)
			continue
		}
		if cfg.dryRun {
			v.Result, v.Detail = resultWouldReplay, "to "+cfg.topic
			c.Replayed++
			_ = out.write(v)
			continue
		}
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				stopErr = err
				break
			}
		}
		if err := ctx.Err(); err != nil {
			stopErr = err
			break
		}
		inflight = append(inflight, pending{msg: m, res: pub.Publish(ctx, republished(m))})
	}

	waitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishWait)
	defer cancel()
	var confirmed []*pubsubpb.ReceivedMessage
	var views []messageView
	for _, p := range inflight {
		v := viewOf(p.msg, cfg.excerpt)
		id, err := p.res.Get(waitCtx)
		if err == nil && id == "" {
			err = errors.New("the server returned no message ID")
		}
		if err != nil {
			v.Result, v.Detail = resultFailed, err.Error()
			c.Failed++
			_ = out.write(v)
			continue
		}
		v.Result, v.NewID = resultReplayed, id
		confirmed = append(confirmed, p.msg)
		views = append(views, v)
	}
	ackErr := s.ack(waitCtx, confirmed)
	for _, v := range views {
		if ackErr != nil {
			v.Detail = "published as " + v.NewID + " but not acknowledged"
			v.NewID = ""
		}
		_ = out.write(v)
	}
	if ackErr != nil {
		c.AckFailed += len(confirmed)
		fmt.Fprintf(a.stderr, "deadletters: %v\n", ackErr)
	}
	c.Replayed += len(confirmed)
	return stopErr
}

// skipReason says why m is not replayed, or "" to replay it.
func skipReason(m *pubsubpb.ReceivedMessage, cfg *config) string {
	attrs := m.GetMessage().GetAttributes()
	for _, f := range cfg.filters.Pairs {
		got, ok := attrs[f.Key]
		if !ok || got != f.Value {
			return fmt.Sprintf("attribute %s=%s does not match --filter-attribute %s=%s", f.Key, displayValue(got, ok), f.Key, f.Value)
		}
	}
	if src, ok := attrs[sourceSubscriptionAttr]; ok && cfg.sourceSubscription != "" {
		// Pub/Sub has been seen writing both the full name and the ID.
		if src != cfg.sourceSubscription && src != opstool.LastSegment(cfg.sourceSubscription) {
			return fmt.Sprintf("dead-lettered from %s, not %s", src, cfg.sourceSubscription)
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
// --json.
func (a *app) summarize(cfg *config, s *session, c counts) {
	if cfg.json {
		_ = json.NewEncoder(a.stdout).Encode(struct {
			Summary counts `json:"summary"`
		}{c})
		return
	}
	fmt.Fprintln(a.stdout, c.String())
	switch {
	case c.DryRun:
		fmt.Fprintf(a.stderr, "deadletters: dry run: nothing published; every message handed back to %s\n", s.src.Name())
	case c.Skipped+c.Failed > 0:
		fmt.Fprintf(a.stderr, "deadletters: skipped and failed messages were handed back to %s\n", s.src.Name())
	}
}
