package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The names in testdata/outputs.json.
const (
	project   = "my-project"
	topic     = "projects/my-project/topics/jobs"
	sub       = "projects/my-project/subscriptions/jobs-worker"
	dlTopic   = "projects/my-project/topics/jobs-worker-dead-letter"
	dlSub     = "projects/my-project/subscriptions/jobs-worker-dead-letter"
	maxTries  = 5
	pullWait  = "300ms" // shorter than pstest's 500ms empty-pull wait
	testLimit = 30 * time.Second
)

// fixture is Google's in-memory Pub/Sub fake with the stack's topology: a
// topic, a worker subscription with a dead-letter policy and message
// ordering, the dead-letter topic and its subscription.
type fixture struct {
	srv    *pstest.Server
	client *pubsub.Client
}

func newFixture(t *testing.T, reactors ...pstest.ServerReactorOption) *fixture {
	return newFixtureWith(t, 10, reactors...)
}

// newFixtureWith is newFixture with the dead-letter subscription's ack
// deadline in seconds.
func newFixtureWith(t *testing.T, dlAckSeconds int32, reactors ...pstest.ServerReactorOption) *fixture {
	t.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0", reactors...)
	t.Cleanup(func() { _ = srv.Close() })
	ctx := context.Background()
	client, err := pubsub.NewClient(ctx, project,
		option.WithEndpoint(srv.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	for _, name := range []string{topic, dlTopic} {
		if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
			t.Fatalf("create topic %s: %v", name, err)
		}
	}
	subs := []*pubsubpb.Subscription{
		{
			Name: sub, Topic: topic, AckDeadlineSeconds: 10, EnableMessageOrdering: true,
			DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: dlTopic, MaxDeliveryAttempts: maxTries},
		},
		{Name: dlSub, Topic: dlTopic, AckDeadlineSeconds: dlAckSeconds},
	}
	for _, s := range subs {
		if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, s); err != nil {
			t.Fatalf("create subscription %s: %v", s.GetName(), err)
		}
	}
	return &fixture{srv: srv, client: client}
}

// deadLetter publishes msgs to the topic and lets the worker subscription
// fail them the way a broken worker does: pull and nack until Pub/Sub moves
// them to the dead-letter topic after maxTries delivery attempts. pstest
// implements dead-lettering (keeping the message ID, and without adding the
// CloudPubSubDeadLetter* attributes real Pub/Sub adds; see
// TestReplayDropsDeadLetterAttributes for those). It returns the IDs.
func (f *fixture) deadLetter(t *testing.T, msgs ...*pubsubpb.PubsubMessage) []string {
	t.Helper()
	ctx := context.Background()
	resp, err := f.client.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: topic, Messages: msgs})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	for round := 0; ; round++ {
		if round > 4*maxTries {
			t.Fatalf("messages were not dead-lettered after %d rounds", round)
		}
		got := f.pullNow(t, sub)
		if len(got) == 0 {
			break
		}
		f.settle(t, sub, got, false)
	}
	if n := len(f.peek(t, dlSub)); n != len(msgs) {
		t.Fatalf("dead-letter subscription has %d messages after dead-lettering, want %d", n, len(msgs))
	}
	return resp.GetMessageIds()
}

// publishDeadLetters publishes msgs straight to the dead-letter topic, for
// dead letters that carry attributes only real Pub/Sub adds.
func (f *fixture) publishDeadLetters(t *testing.T, msgs ...*pubsubpb.PubsubMessage) []string {
	t.Helper()
	resp, err := f.client.TopicAdminClient.Publish(context.Background(), &pubsubpb.PublishRequest{Topic: dlTopic, Messages: msgs})
	if err != nil {
		t.Fatalf("publish dead letters: %v", err)
	}
	return resp.GetMessageIds()
}

func (f *fixture) pullNow(t *testing.T, name string) []*pubsubpb.ReceivedMessage {
	t.Helper()
	resp, err := f.client.SubscriptionAdminClient.Pull(context.Background(), &pubsubpb.PullRequest{
		// pstest still honours the deprecated flag: without it a pull of an
		// empty subscription waits instead of answering "nothing".
		Subscription: name, MaxMessages: 1000, ReturnImmediately: true, //nolint:staticcheck // see above

	})
	if err != nil {
		t.Fatalf("pull %s: %v", name, err)
	}
	return resp.GetReceivedMessages()
}

func (f *fixture) settle(t *testing.T, name string, msgs []*pubsubpb.ReceivedMessage, ack bool) {
	t.Helper()
	if len(msgs) == 0 {
		return
	}
	ctx := context.Background()
	var err error
	if ack {
		err = f.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: name, AckIds: ackIDs(msgs)})
	} else {
		err = f.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: name, AckIds: ackIDs(msgs)})
	}
	if err != nil {
		t.Fatalf("settle on %s: %v", name, err)
	}
}

// peek returns every message available on name and hands them back.
func (f *fixture) peek(t *testing.T, name string) []*pubsubpb.ReceivedMessage {
	t.Helper()
	var all []*pubsubpb.ReceivedMessage
	for {
		got := f.pullNow(t, name)
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
	}
	f.settle(t, name, all, false)
	return all
}

// take returns every message available on name and acknowledges them.
func (f *fixture) take(t *testing.T, name string) []*pubsubpb.ReceivedMessage {
	t.Helper()
	var all []*pubsubpb.ReceivedMessage
	for {
		got := f.pullNow(t, name)
		if len(got) == 0 {
			break
		}
		f.settle(t, name, got, true)
		all = append(all, got...)
	}
	return all
}

type result struct {
	err            error
	stdout, stderr string
	elapsed        time.Duration
}

// run runs deadletters against the fake; args start with the subcommand.
func (f *fixture) run(t *testing.T, wrap func(publisher) publisher, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testLimit)
	defer cancel()
	return f.runCtx(ctx, t, wrap, args...)
}

func (f *fixture) runCtx(ctx context.Context, t *testing.T, wrap func(publisher) publisher, args ...string) result {
	t.Helper()
	return f.runApp(ctx, t, &app{wrapPublisher: wrap}, args...)
}

// runApp runs a, whose hooks the caller has set, against the fake.
func (f *fixture) runApp(ctx context.Context, t *testing.T, a *app, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	a.stdout, a.stderr = &out, &errOut
	full := append([]string{args[0], "--outputs", "testdata/outputs.json", "--endpoint", f.srv.Addr, "--wait", pullWait}, args[1:]...)
	start := time.Now()
	err := a.run(ctx, full)
	return result{err: err, stdout: out.String(), stderr: errOut.String(), elapsed: time.Since(start)}
}

func msg(data, key string, attrs map[string]string) *pubsubpb.PubsubMessage {
	return &pubsubpb.PubsubMessage{Data: []byte(data), OrderingKey: key, Attributes: attrs}
}

func ids(msgs []*pubsubpb.ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.GetMessage().GetMessageId()
	}
	sort.Strings(out)
	return out
}

// replayedFrom returns the dead-letter IDs recorded on republished messages.
func replayedFrom(t *testing.T, msgs []*pubsubpb.ReceivedMessage) []string {
	t.Helper()
	out := make([]string, len(msgs))
	for i, m := range msgs {
		id, ok := m.GetMessage().GetAttributes()[replayedFromAttr]
		if !ok {
			t.Errorf("republished message %s lacks %s", m.GetMessage().GetMessageId(), replayedFromAttr)
		}
		out[i] = id
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestReplayRoundTrip(t *testing.T) {
	f := newFixture(t)
	originals := []*pubsubpb.PubsubMessage{
		msg(`{"job":1}`, "order-1", map[string]string{"kind": "report", "n": "1"}),
		msg(`{"job":2}`, "order-2", map[string]string{"kind": "mail"}),
		msg("\x00\x01binary", "", nil),
	}
	dead := f.deadLetter(t, originals...)

	res := f.run(t, nil, "replay")
	if res.err != nil {
		t.Fatalf("replay: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "replayed 3, skipped 0, failed 0") {
		t.Errorf("stdout lacks the counts:\n%s", res.stdout)
	}
	got := f.take(t, sub)
	if len(got) != len(originals) {
		t.Fatalf("worker subscription got %d replayed messages, want %d", len(got), len(originals))
	}
	byData := map[string]*pubsubpb.PubsubMessage{}
	for _, m := range got {
		byData[string(m.GetMessage().GetData())] = m.GetMessage()
	}
	for i, want := range originals {
		m, ok := byData[string(want.GetData())]
		if !ok {
			t.Errorf("message %q was not redelivered", want.GetData())
			continue
		}
		if m.GetOrderingKey() != want.GetOrderingKey() {
			t.Errorf("message %q: ordering key %q, want %q", want.GetData(), m.GetOrderingKey(), want.GetOrderingKey())
		}
		wantAttrs := map[string]string{replayedFromAttr: dead[i]}
		for k, v := range want.GetAttributes() {
			wantAttrs[k] = v
		}
		if fmt.Sprint(m.GetAttributes()) != fmt.Sprint(wantAttrs) {
			t.Errorf("message %q: attributes %v, want %v", want.GetData(), m.GetAttributes(), wantAttrs)
		}
	}
	if left := f.peek(t, dlSub); len(left) != 0 {
		t.Errorf("dead-letter subscription still has %v after a full replay", ids(left))
	}

	second := f.run(t, nil, "replay")
	if second.err != nil {
		t.Fatalf("second replay: %v", second.err)
	}
	if !strings.Contains(second.stdout, "replayed 0, skipped 0, failed 0") {
		t.Errorf("second run stdout:\n%s\nwant nothing replayed", second.stdout)
	}
	if again := f.take(t, sub); len(again) != 0 {
		t.Errorf("second run republished %d messages, want 0", len(again))
	}
}

// failAfter lets the first ok publishes through and fails the rest.
type failAfter struct {
	inner publisher
	ok    int32
	n     atomic.Int32
}

func (p *failAfter) Publish(ctx context.Context, m *pubsub.Message) publishResult {
	if p.n.Add(1) > p.ok {
		return failedResult{status.Error(codes.Unavailable, "injected publish failure")}
	}
	return p.inner.Publish(ctx, m)
}

func (p *failAfter) Stop() { p.inner.Stop() }

type failedResult struct{ err error }

func (r failedResult) Get(context.Context) (string, error) { return "", r.err }

func TestReplayPublishFailureMidwayKeepsFailedDeadLetters(t *testing.T) {
	f := newFixture(t)
	var originals []*pubsubpb.PubsubMessage
	for i := range 5 {
		originals = append(originals, msg(fmt.Sprintf("job %d", i), fmt.Sprintf("key-%d", i), map[string]string{"i": fmt.Sprint(i)}))
	}
	dead := f.deadLetter(t, originals...)

	var wrapped *failAfter
	res := f.run(t, func(p publisher) publisher {
		wrapped = &failAfter{inner: p, ok: 2}
		return wrapped
	}, "replay")
	if wrapped == nil {
		t.Fatal("the publisher was not wrapped")
	}
	if res.err == nil || !strings.Contains(res.err.Error(), "3 messages failed to replay") {
		t.Fatalf("err = %v, want 3 failures reported", res.err)
	}
	if !strings.Contains(res.stdout, "replayed 2, skipped 0, failed 3") {
		t.Errorf("stdout lacks the counts:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "injected publish failure") {
		t.Errorf("stdout does not show the failure:\n%s", res.stdout)
	}
	replayed := replayedFrom(t, f.take(t, sub))
	left := ids(f.peek(t, dlSub))
	if len(replayed) != 2 || len(left) != 3 {
		t.Fatalf("replayed %v and left %v, want 2 replayed and 3 left on the dead-letter subscription", replayed, left)
	}
	if all := sorted(append(append([]string(nil), replayed...), left...)); !equal(all, sorted(dead)) {
		t.Errorf("replayed %v + left %v = %v, want each of %v exactly once", replayed, left, all, sorted(dead))
	}

	// Nothing was lost: a later run replays the rest.
	again := f.run(t, nil, "replay")
	if again.err != nil || !strings.Contains(again.stdout, "replayed 3, skipped 0, failed 0") {
		t.Fatalf("rerun: err %v, stdout:\n%s", again.err, again.stdout)
	}
	if got := replayedFrom(t, f.take(t, sub)); !equal(got, left) {
		t.Errorf("rerun replayed %v, want %v", got, left)
	}
}

func TestReplayToDeletedTopicLosesNothing(t *testing.T) {
	f := newFixture(t)
	dead := f.deadLetter(t, msg("a", "k1", nil), msg("b", "k2", nil))
	if err := f.client.TopicAdminClient.DeleteTopic(context.Background(), &pubsubpb.DeleteTopicRequest{Topic: topic}); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	res := f.run(t, nil, "replay")
	if res.err == nil {
		t.Fatalf("replay to a deleted topic succeeded:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "replayed 0, skipped 0, failed 2") || !strings.Contains(res.stdout, "NOT_FOUND") {
		t.Errorf("stdout:\n%s\nwant 2 NOT_FOUND failures", res.stdout)
	}
	if left := ids(f.peek(t, dlSub)); !equal(left, sorted(dead)) {
		t.Errorf("dead-letter subscription has %v, want all of %v", left, sorted(dead))
	}
}

func TestReplayDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	dead := f.deadLetter(t, msg(`{"a":1}`, "k1", map[string]string{"kind": "x"}), msg(`{"b":2}`, "k2", nil), msg(`{"c":3}`, "", nil))
	publishedBefore := len(f.srv.Messages())

	res := f.run(t, nil, "replay", "--dry-run")
	if res.err != nil {
		t.Fatalf("dry run: %v\n%s", res.err, res.stderr)
	}
	if !strings.Contains(res.stdout, "would replay 3, skipped 0, failed 0") {
		t.Errorf("stdout lacks the counts:\n%s", res.stdout)
	}
	if n := strings.Count(res.stdout, resultWouldReplay); n != 3 {
		t.Errorf("stdout shows %d would-replay rows, want 3:\n%s", n, res.stdout)
	}
	for _, id := range dead {
		if !strings.Contains(res.stdout, id) {
			t.Errorf("stdout does not show message %s:\n%s", id, res.stdout)
		}
	}
	if after := len(f.srv.Messages()); after != publishedBefore {
		t.Errorf("the fake recorded %d published messages, %d before the dry run: it published", after, publishedBefore)
	}
	if got := f.take(t, sub); len(got) != 0 {
		t.Errorf("worker subscription got %d messages from a dry run", len(got))
	}
	if left := ids(f.peek(t, dlSub)); !equal(left, sorted(dead)) {
		t.Errorf("dead-letter subscription has %v after a dry run, want %v", left, sorted(dead))
	}
}

func TestReplayFilterSkipsNonMatching(t *testing.T) {
	f := newFixture(t)
	dead := f.deadLetter(t,
		msg("a1", "k1", map[string]string{"kind": "a"}),
		msg("b1", "k2", map[string]string{"kind": "b"}),
		msg("a2", "k3", map[string]string{"kind": "a"}),
		msg("none", "k4", nil),
	)
	res := f.run(t, nil, "replay", "--filter-attribute", "kind=a")
	if res.err != nil {
		t.Fatalf("replay: %v", res.err)
	}
	if !strings.Contains(res.stdout, "replayed 2, skipped 2, failed 0") {
		t.Errorf("stdout lacks the counts:\n%s", res.stdout)
	}
	if got := replayedFrom(t, f.take(t, sub)); !equal(got, sorted([]string{dead[0], dead[2]})) {
		t.Errorf("replayed %v, want the kind=a messages %v", got, []string{dead[0], dead[2]})
	}
	if left := ids(f.peek(t, dlSub)); !equal(left, sorted([]string{dead[1], dead[3]})) {
		t.Errorf("left %v, want the skipped %v", left, []string{dead[1], dead[3]})
	}
}

func TestReplayMaxIsExact(t *testing.T) {
	f := newFixture(t)
	var originals []*pubsubpb.PubsubMessage
	for i := range 5 {
		originals = append(originals, msg(fmt.Sprint(i), fmt.Sprintf("k%d", i), nil))
	}
	dead := f.deadLetter(t, originals...)
	tests := []struct {
		name         string
		args         []string
		wantReplayed int
		wantLeft     int
	}{
		{name: "max 2 in a large batch", args: []string{"--max", "2", "--batch", "1000"}, wantReplayed: 2, wantLeft: 3},
		{name: "max 2 in batches of 1", args: []string{"--max", "2", "--batch", "1"}, wantReplayed: 2, wantLeft: 1},
		{name: "max above the backlog", args: []string{"--max", "10"}, wantReplayed: 1, wantLeft: 0},
	}
	var replayedAll []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.run(t, nil, append([]string{"replay"}, tt.args...)...)
			if res.err != nil {
				t.Fatalf("replay: %v", res.err)
			}
			if want := fmt.Sprintf("replayed %d, skipped 0, failed 0", tt.wantReplayed); !strings.Contains(res.stdout, want) {
				t.Errorf("stdout:\n%s\nwant %q", res.stdout, want)
			}
			got := replayedFrom(t, f.take(t, sub))
			if len(got) != tt.wantReplayed {
				t.Errorf("worker subscription got %d, want %d", len(got), tt.wantReplayed)
			}
			replayedAll = append(replayedAll, got...)
			if left := f.peek(t, dlSub); len(left) != tt.wantLeft {
				t.Errorf("dead-letter subscription has %d, want %d", len(left), tt.wantLeft)
			}
		})
	}
	if !equal(sorted(replayedAll), sorted(dead)) {
		t.Errorf("replayed over all runs %v, want each of %v once", sorted(replayedAll), sorted(dead))
	}
}

func TestReplayRateAndProgress(t *testing.T) {
	f := newFixture(t)
	f.deadLetter(t, msg("1", "k1", nil), msg("2", "k2", nil), msg("3", "k3", nil), msg("4", "k4", nil))
	res := f.run(t, nil, "replay", "--rate", "20", "--batch", "2", "--progress-every", "2")
	if res.err != nil {
		t.Fatalf("replay: %v", res.err)
	}
	// A burst of 1 at 20/s spaces four publishes at least 3 × 50ms apart.
	if res.elapsed < 150*time.Millisecond {
		t.Errorf("4 messages at --rate 20 took %v, want at least 150ms", res.elapsed)
	}
	if !strings.Contains(res.stderr, "progress: 2 messages") || !strings.Contains(res.stderr, "progress: 4 messages") {
		t.Errorf("stderr lacks progress every 2 messages:\n%s", res.stderr)
	}
	if got := f.take(t, sub); len(got) != 4 {
		t.Errorf("worker subscription got %d, want 4", len(got))
	}
}

func TestReplayDropsDeadLetterAttributes(t *testing.T) {
	f := newFixture(t)
	// What real Pub/Sub adds when it dead-letters; pstest adds none.
	dlAttrs := func(source string) map[string]string {
		return map[string]string{
			"kind": "report",
			"CloudPubSubDeadLetterSourceSubscription":  source,
			"CloudPubSubDeadLetterSourceDeliveryCount": "5",
		}
	}
	dead := f.publishDeadLetters(t,
		msg("full name", "k1", dlAttrs(sub)),
		msg("short name", "k2", dlAttrs("jobs-worker")),
		msg("elsewhere", "k3", dlAttrs("projects/my-project/subscriptions/other")),
	)
	res := f.run(t, nil, "replay")
	if res.err != nil {
		t.Fatalf("replay: %v", res.err)
	}
	if !strings.Contains(res.stdout, "replayed 2, skipped 1, failed 0") {
		t.Errorf("stdout:\n%s", res.stdout)
	}
	got := f.take(t, sub)
	if len(got) != 2 {
		t.Fatalf("worker subscription got %d, want 2", len(got))
	}
	for _, m := range got {
		attrs := m.GetMessage().GetAttributes()
		if len(attrs) != 2 || attrs["kind"] != "report" || attrs[replayedFromAttr] == "" {
			t.Errorf("republished attributes %v, want only kind and %s", attrs, replayedFromAttr)
		}
	}
	if left := ids(f.peek(t, dlSub)); !equal(left, []string{dead[2]}) {
		t.Errorf("left %v, want the message from another subscription %s", left, dead[2])
	}
}

// cancelAfter cancels the run after n publishes.
type cancelAfter struct {
	inner  publisher
	n      int
	cancel context.CancelFunc
	mu     sync.Mutex
	count  int
}

func (p *cancelAfter) Publish(ctx context.Context, m *pubsub.Message) publishResult {
	r := p.inner.Publish(ctx, m)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	if p.count == p.n {
		p.cancel()
	}
	return r
}

func (p *cancelAfter) Stop() { p.inner.Stop() }

func TestReplayInterruptedLosesNothing(t *testing.T) {
	f := newFixture(t)
	var originals []*pubsubpb.PubsubMessage
	for i := range 5 {
		originals = append(originals, msg(fmt.Sprint(i), fmt.Sprintf("k%d", i), nil))
	}
	dead := f.deadLetter(t, originals...)
	ctx, cancel := context.WithTimeout(context.Background(), testLimit)
	defer cancel()
	res := f.runCtx(ctx, t, func(p publisher) publisher {
		return &cancelAfter{inner: p, n: 2, cancel: cancel}
	}, "replay")
	if res.err == nil || !strings.Contains(res.err.Error(), "interrupted") {
		t.Fatalf("err = %v, want an interrupted error\n%s", res.err, res.stdout)
	}
	replayed := replayedFrom(t, f.take(t, sub))
	left := ids(f.peek(t, dlSub))
	if len(replayed) > 2 {
		t.Errorf("replayed %v after an interrupt at the second publish", replayed)
	}
	if all := sorted(append(append([]string(nil), replayed...), left...)); !equal(all, sorted(dead)) {
		t.Errorf("replayed %v + left %v, want each of %v exactly once", replayed, left, sorted(dead))
	}
}

func TestInspectShowsButLeavesMessages(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("x", 200)
	dead := f.deadLetter(t,
		msg(`{"order": 42,`+"\n"+` "note": "first"}`, "order-42", map[string]string{"kind": "report"}),
		msg("\x00\x01\x02\xff", "", nil),
		msg(long, "k", nil),
	)

	res := f.run(t, nil, "inspect", "--width", "200")
	if res.err != nil {
		t.Fatalf("inspect: %v", res.err)
	}
	for _, want := range append([]string{"ID", "ATTEMPT", `{"order": 42, "note": "first"}`, "hex:000102ff", "kind=report", "order-42",
		strings.Repeat("x", 60) + "…"}, dead...) {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, strings.Repeat("x", 61)) {
		t.Errorf("inspect output does not truncate long data:\n%s", res.stdout)
	}
	if left := ids(f.peek(t, dlSub)); !equal(left, sorted(dead)) {
		t.Errorf("after inspect the dead-letter subscription has %v, want all of %v", left, sorted(dead))
	}

	res = f.run(t, nil, "inspect", "--json", "--max", "2")
	if res.err != nil {
		t.Fatalf("inspect --json: %v", res.err)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("inspect --json --max 2 printed %d lines, want 2:\n%s", len(lines), res.stdout)
	}
	byID := map[string]string{}
	for i, id := range dead {
		byID[id] = string([]string{`{"order": 42,` + "\n" + ` "note": "first"}`, "\x00\x01\x02\xff", long}[i])
	}
	for _, line := range lines {
		var v messageView
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		want, ok := byID[v.ID]
		if !ok {
			t.Errorf("unknown message %q", v.ID)
			continue
		}
		if string(v.Data) != want || v.Size != len(want) {
			t.Errorf("message %s: data %q size %d, want %q", v.ID, v.Data, v.Size, want)
		}
	}
	if left := f.peek(t, dlSub); len(left) != 3 {
		t.Errorf("after inspect --json the dead-letter subscription has %d, want 3", len(left))
	}
}

func TestInspectEmpty(t *testing.T) {
	f := newFixture(t)
	res := f.run(t, nil, "inspect")
	if res.err != nil {
		t.Fatalf("inspect: %v", res.err)
	}
	if res.stdout != "" || !strings.Contains(res.stderr, "no messages on "+dlSub) {
		t.Errorf("stdout %q stderr %q, want an empty-subscription note", res.stdout, res.stderr)
	}
}

// countingListener accepts connections on loopback and counts them, to prove
// a run never dialed.
func countingListener(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return lis.Addr().String(), &n
}

func TestBadInputIsRefusedBeforeDialing(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "no subcommand", args: nil, want: []string{"missing command: want inspect or replay"}},
		{name: "unknown subcommand", args: []string{"purge"}, want: []string{`unknown command "purge"`}},
		{name: "unknown pair", args: []string{"replay", "--outputs", "testdata/outputs.json", "--pair", "x/y"}, want: []string{`--pair="x/y"`, "jobs/jobs-worker"}},
		{name: "pair needed when several", args: []string{"inspect", "--outputs", "testdata/outputs-two-pairs.json"},
			want: []string{"--pair is required", "jobs/jobs-worker, mail/mail-worker"}},
		{name: "pair without outputs", args: []string{"replay", "--pair", "jobs/jobs-worker"}, want: []string{`--pair="jobs/jobs-worker"`, "--outputs"}},
		{name: "nothing to read", args: []string{"inspect"}, want: []string{"no dead-letter subscription"}},
		{name: "no topic", args: []string{"replay", "--dead-letter-subscription", dlSub}, want: []string{"no topic to replay to"}},
		{name: "replay into the dead-letter topic", args: []string{"replay", "--outputs", "testdata/outputs-loop.json"}, want: []string{"is the dead-letter topic"}},
		{name: "bad subscription name", args: []string{"inspect", "--dead-letter-subscription", "projects/p/topics/t"},
			want: []string{"--dead-letter-subscription", "projects/PROJECT/subscriptions/SUBSCRIPTION"}},
		{name: "bad topic name", args: []string{"replay", "--dead-letter-subscription", dlSub, "--topic", "jobs"}, want: []string{"--topic", `"jobs"`}},
		{name: "batch zero", args: []string{"inspect", "--outputs", "testdata/outputs.json", "--batch", "0"}, want: []string{"--batch=0", "between 1 and 1000"}},
		{name: "negative max", args: []string{"replay", "--outputs", "testdata/outputs.json", "--max", "-1"}, want: []string{"--max=-1"}},
		{name: "negative rate", args: []string{"replay", "--outputs", "testdata/outputs.json", "--rate", "-1"}, want: []string{"--rate=-1"}},
		{name: "bad filter", args: []string{"replay", "--outputs", "testdata/outputs.json", "--filter-attribute", "kind"},
			want: []string{"-filter-attribute", "want key=value"}},
		{name: "replay flag on inspect", args: []string{"inspect", "--outputs", "testdata/outputs.json", "--dry-run"},
			want: []string{"flag provided but not defined: -dry-run"}},
		{name: "malformed outputs", args: []string{"replay", "--outputs", "testdata/malformed.json"}, want: []string{"malformed.json", "not the JSON object"}},
		{name: "publish timeout zero", args: []string{"replay", "--outputs", "testdata/outputs.json", "--publish-timeout", "0s"},
			want: []string{"--publish-timeout=0s", "must be positive"}},
		{name: "table too narrow", args: []string{"inspect", "--outputs", "testdata/outputs.json", "--width", "39"}, want: []string{"--width=39", "at least 40"}},
		{name: "excerpt too short", args: []string{"inspect", "--outputs", "testdata/outputs.json", "--excerpt", "7"}, want: []string{"--excerpt=7", "at least 8"}},
		{name: "negative progress", args: []string{"replay", "--outputs", "testdata/outputs.json", "--progress-every", "-1"}, want: []string{"--progress-every=-1"}},
		{name: "positional argument", args: []string{"replay", "--outputs", "testdata/outputs.json", "now"}, want: []string{`unexpected argument "now"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, dials := countingListener(t)
			args := tt.args
			if len(args) > 0 {
				args = append(append([]string(nil), args...), "--endpoint", addr)
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), args, nil, &out, &errOut)
			if err == nil {
				t.Fatalf("run succeeded, want an error\nstdout: %s", out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
			if n := dials.Load(); n != 0 {
				t.Errorf("%d connections were made; bad input must be refused before dialing", n)
			}
		})
	}
}
