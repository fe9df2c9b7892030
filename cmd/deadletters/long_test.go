package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeClock runs the fake's time scale times faster than the real one, plus
// an offset, so a run of a second or two outlives the 10-minute hold.
type fakeClock struct {
	mu     sync.Mutex
	start  time.Time
	scale  float64
	offset time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start.Add(c.offset + time.Duration(float64(time.Since(c.start))*c.scale))
}

func (c *fakeClock) setOffset(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
}

// TestReplayOutlivesTheHold is the defect of issue 14: a filtered,
// rate-limited replay that lasts longer than the 10-minute hold must
// replay every matching dead letter, not stop when a pull brings back only
// messages it already skipped.
func TestReplayOutlivesTheHold(t *testing.T) {
	f := newFixtureWith(t, holdSeconds)
	clock := &fakeClock{start: time.Now(), scale: 2000}
	f.srv.SetTimeNowFunc(clock.now)
	// pstest drops a message that waits 10 minutes after its publish time
	// (real Pub/Sub keeps it for days), so the dead letters are published
	// with the fake clock three hours ahead.
	clock.setOffset(3 * time.Hour)
	kinds := []string{"email", "sms", "push"}
	var msgs []*pubsubpb.PubsubMessage
	var want []string
	for i := range 200 {
		msgs = append(msgs, msg(fmt.Sprintf(`{"n":%d}`, i), "", map[string]string{"kind": kinds[i%3]}))
	}
	dead := f.publishDeadLetters(t, msgs...)
	for i, id := range dead {
		if i%3 == 0 {
			want = append(want, id)
		}
	}
	clock.setOffset(0)

	a := &app{now: clock.now, renewEvery: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), testLimit)
	defer cancel()
	res := f.runApp(ctx, t, a, "replay", "--filter-attribute", "kind=email", "--rate", "100", "--batch", "20")
	fakeElapsed := time.Duration(float64(res.elapsed) * clock.scale)
	if fakeElapsed < 2*holdSeconds*time.Second {
		t.Errorf("the run lasted %v of fake time; the test needs it to outlive the %ds hold twice", fakeElapsed, holdSeconds)
	}
	if res.err != nil {
		t.Fatalf("replay: %v\nstderr:\n%s", res.err, res.stderr)
	}
	if wantLine := fmt.Sprintf("replayed %d, skipped %d, failed 0", len(want), 200-len(want)); !strings.Contains(res.stdout, wantLine) {
		t.Errorf("stdout lacks %q:\n%s", wantLine, tail(res.stdout))
	}
	// The fake's record of every publish; pulling the worker subscription
	// would miss what its 10-minute retention dropped in fake time.
	var got []string
	for _, m := range f.srv.Messages() {
		if id, ok := m.Attributes[replayedFromAttr]; ok {
			got = append(got, id)
		}
	}
	if got = sorted(got); !equal(got, sorted(want)) {
		t.Errorf("replayed %d messages, want every one of the %d kind=email dead letters", len(got), len(want))
	}
	skipped := map[string]bool{}
	for _, id := range dead {
		skipped[id] = !slices.Contains(want, id)
	}
	if left, extra := f.eventually(t, dlSub, skipped, 5*time.Second); left != 200-len(want) || len(extra) > 0 {
		t.Errorf("dead-letter subscription has %d of the %d skipped messages, and %d others: %v", left, 200-len(want), len(extra), extra)
	}
}

// eventually pulls name (nacking what it pulls) until every message marked
// true in expect has been seen or the real-time bound passes, and returns
// how many of them it saw and the ids of any other message it saw. Holds
// the tool took lapse only after its exit, and the fake's clock runs fast,
// so a single pass can miss messages that are still held.
func (f *fixture) eventually(t *testing.T, name string, expect map[string]bool, bound time.Duration) (int, []string) {
	t.Helper()
	seen := map[string]bool{}
	var extra []string
	n := 0
	for _, v := range expect {
		if v {
			n++
		}
	}
	for deadline := time.Now().Add(bound); len(seen) < n && time.Now().Before(deadline); {
		got := f.pullNow(t, name)
		for _, m := range got {
			id := m.GetMessage().GetMessageId()
			switch {
			case expect[id]:
				seen[id] = true
			case !slices.Contains(extra, id):
				extra = append(extra, id)
			}
		}
		f.settle(t, name, got, false)
		if len(got) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return len(seen), extra
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// stuckSource brings back the first batch it pulled on every pull: holds
// that keep lapsing.
type stuckSource struct {
	deadLetterSource
	mu    sync.Mutex
	first []*pubsubpb.ReceivedMessage
}

func (s *stuckSource) Pull(ctx context.Context, n int) ([]*pubsubpb.ReceivedMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first != nil {
		return s.first, nil
	}
	got, err := s.deadLetterSource.Pull(ctx, 1)
	s.first = got
	return got, err
}

// failingAcks fails every Acknowledge.
type failingAcks struct{ deadLetterSource }

func (failingAcks) Acknowledge(context.Context, []string) error {
	return status.Error(codes.PermissionDenied, "injected: no pubsub.subscriptions.consume")
}

func TestReplayExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		app        func(cancel context.CancelFunc) *app
		wantCode   int
		wantErr    string
		wantStderr string
	}{
		{name: "done", wantCode: opstool.ExitOK},
		{name: "usage", args: []string{"--max", "-1"}, wantCode: opstool.ExitUsage, wantErr: "--max=-1"},
		{name: "failed", wantCode: opstool.ExitFailed, wantErr: "4 messages failed to replay", app: func(context.CancelFunc) *app {
			return &app{wrapPublisher: func(p publisher) publisher { return &failAfter{inner: p, ok: 0} }}
		}},
		{name: "not acknowledged", wantCode: opstool.ExitNotAcknowledged, wantErr: "4 messages were republished but not acknowledged",
			app: func(context.CancelFunc) *app {
				return &app{wrapSource: func(s deadLetterSource) deadLetterSource { return failingAcks{s} }}
			}},
		{name: "incomplete", args: []string{"--dry-run"}, wantCode: opstool.ExitIncomplete, wantErr: "matching messages possibly left",
			app: func(context.CancelFunc) *app {
				return &app{wrapSource: func(s deadLetterSource) deadLetterSource { return &stuckSource{deadLetterSource: s} }}
			}},
		{name: "interrupted", wantCode: opstool.ExitInterrupted, wantErr: "interrupted", app: func(cancel context.CancelFunc) *app {
			return &app{wrapPublisher: func(p publisher) publisher { return &cancelAfter{inner: p, n: 1, cancel: cancel} }}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			dead := f.deadLetter(t, msg("1", "", nil), msg("2", "", nil), msg("3", "", nil), msg("4", "", nil))
			ctx, cancel := context.WithTimeout(context.Background(), testLimit)
			defer cancel()
			a := &app{}
			if tt.app != nil {
				a = tt.app(cancel)
			}
			res := f.runApp(ctx, t, a, append([]string{"replay"}, tt.args...)...)
			if got := cli.ExitCode(res.err); got != tt.wantCode {
				t.Errorf("exit status %d, want %d (err %v)\nstderr:\n%s", got, tt.wantCode, res.err, res.stderr)
			}
			if tt.wantErr != "" && (res.err == nil || !strings.Contains(res.err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want it to contain %q", res.err, tt.wantErr)
			}
			if tt.wantCode == opstool.ExitOK || tt.wantCode == opstool.ExitNotAcknowledged || tt.wantCode == opstool.ExitUsage {
				return
			}
			// Whatever stopped the run, the dead letters not replayed are back.
			replayed := replayedFrom(t, f.take(t, sub))
			left := ids(f.peek(t, dlSub))
			if all := sorted(append(replayed, left...)); !equal(all, sorted(dead)) {
				t.Errorf("replayed %v + left %v, want each of %v once", replayed, left, sorted(dead))
			}
		})
	}
}

func TestReplayMaxCountsOnlyReplayed(t *testing.T) {
	f := newFixture(t)
	var msgs []*pubsubpb.PubsubMessage
	for i := range 12 {
		kind := "sms"
		if i%2 == 0 {
			kind = "email"
		}
		msgs = append(msgs, msg(fmt.Sprint(i), "", map[string]string{"kind": kind}))
	}
	f.deadLetter(t, msgs...)
	res := f.run(t, nil, "replay", "--filter-attribute", "kind=email", "--max", "4", "--batch", "3")
	if res.err != nil {
		t.Fatalf("replay: %v", res.err)
	}
	if !strings.Contains(res.stdout, "replayed 4, skipped") {
		t.Errorf("stdout:\n%s\nwant 4 replayed", res.stdout)
	}
	if !strings.Contains(res.stderr, "stopped at --max 4; more matching messages may be waiting") {
		t.Errorf("stderr lacks the --max note:\n%s", res.stderr)
	}
	got := f.take(t, sub)
	for _, m := range got {
		if m.GetMessage().GetAttributes()["kind"] != "email" {
			t.Errorf("replayed a %s message", m.GetMessage().GetAttributes()["kind"])
		}
	}
	if len(got) != 4 {
		t.Errorf("worker subscription got %d, want 4", len(got))
	}
	if left := f.peek(t, dlSub); len(left) != 8 {
		t.Errorf("dead-letter subscription has %d, want 8", len(left))
	}
	help := f.run(t, nil, "replay", "--help")
	if cli.ExitCode(help.err) != cli.ExitOK || !strings.HasPrefix(help.stdout, "usage: deadletters replay ") ||
		!strings.Contains(help.stdout, "Skipped messages do not count") {
		t.Errorf("replay --help: %v; want the usage on stdout, saying --max counts what is published:\n%s", help.err, help.stdout)
	}
}

func TestInspectSaysHowManyRemain(t *testing.T) {
	f := newFixture(t)
	var msgs []*pubsubpb.PubsubMessage
	for i := range 7 {
		msgs = append(msgs, msg(fmt.Sprint(i), "", nil))
	}
	f.deadLetter(t, msgs...)
	res := f.run(t, nil, "inspect", "--max", "2", "--batch", "3")
	if res.err != nil {
		t.Fatalf("inspect: %v", res.err)
	}
	if rows := strings.Count(res.stdout, "\n"); rows != 3 {
		t.Errorf("inspect printed %d lines, want a header and 2 rows:\n%s", rows, res.stdout)
	}
	if !strings.Contains(res.stderr, "2 messages shown (--max 2); 5 more are waiting, not shown") {
		t.Errorf("stderr does not say how many remain:\n%s", res.stderr)
	}
	if left := f.peek(t, dlSub); len(left) != 7 {
		t.Errorf("dead-letter subscription has %d after inspect, want 7", len(left))
	}
}

// outage makes Publish to the worker topic fail with UNAVAILABLE while on.
type outage struct{ on atomic.Bool }

func (o *outage) React(req any) (bool, any, error) {
	if r, ok := req.(*pubsubpb.PublishRequest); ok && r.GetTopic() == topic && o.on.Load() {
		return true, nil, status.Error(codes.Unavailable, "injected outage: the service is unavailable")
	}
	return false, nil, nil
}

func TestReplayDuringPublishOutage(t *testing.T) {
	o := &outage{}
	f := newFixture(t, pstest.ServerReactorOption{FuncName: "Publish", Reactor: o})
	dead := f.deadLetter(t, msg("1", "k1", nil), msg("2", "k2", nil), msg("3", "k3", nil))
	o.on.Store(true)
	res := f.run(t, nil, "replay", "--publish-timeout", "1s")
	if got := cli.ExitCode(res.err); got != opstool.ExitFailed {
		t.Errorf("exit status %d, want %d (err %v)", got, opstool.ExitFailed, res.err)
	}
	if !strings.Contains(res.stderr, "publishing is failing: UNAVAILABLE: injected outage") {
		t.Errorf("stderr does not report the outage as it starts:\n%s", res.stderr)
	}
	if n := strings.Count(res.stdout, "UNAVAILABLE: injected outage"); n != 3 {
		t.Errorf("%d rows give the UNAVAILABLE behind the timeout, want 3:\n%s", n, res.stdout)
	}
	if res.elapsed > 10*time.Second {
		t.Errorf("took %v with --publish-timeout 1s", res.elapsed)
	}
	if left := ids(f.peek(t, dlSub)); !equal(left, sorted(dead)) {
		t.Errorf("left %v, want all of %v", left, sorted(dead))
	}

	// Ctrl-C during the outage stops promptly and hands everything back.
	ctx, cancel := context.WithTimeout(context.Background(), testLimit)
	defer cancel()
	time.AfterFunc(500*time.Millisecond, cancel)
	res = f.runApp(ctx, t, &app{interruptGrace: 200 * time.Millisecond}, "replay", "--publish-timeout", "30s")
	if got := cli.ExitCode(res.err); got != opstool.ExitInterrupted {
		t.Errorf("exit status %d after an interrupt, want %d (err %v)", got, opstool.ExitInterrupted, res.err)
	}
	if res.elapsed > 5*time.Second {
		t.Errorf("the interrupted run took %v to stop; want it prompt", res.elapsed)
	}
	if left := ids(f.peek(t, dlSub)); !equal(left, sorted(dead)) {
		t.Errorf("left %v after the interrupt, want all of %v", left, sorted(dead))
	}

	// On a terminal a status line shows counts and rate.
	o.on.Store(false)
	res = f.runApp(context.Background(), t, &app{tty: true, ttyKnown: true, termWidth: 80,
		wrapPublisher: func(p publisher) publisher { return &slowPublisher{inner: p, d: 400 * time.Millisecond} }}, "replay")
	if res.err != nil {
		t.Fatalf("replay: %v", res.err)
	}
	if !strings.Contains(res.stderr, "\r\x1b[K") || !strings.Contains(res.stderr, "/s") {
		t.Errorf("no status line on a terminal:\n%q", res.stderr)
	}
	for _, line := range strings.Split(res.stdout, "\n") {
		if len([]rune(line)) > 80 {
			t.Errorf("row wider than the 80-column terminal: %q", line)
		}
	}
}

// slowPublisher delays every result by d.
type slowPublisher struct {
	inner publisher
	d     time.Duration
}

func (p *slowPublisher) Publish(ctx context.Context, m *pubsub.Message) publishResult {
	r := p.inner.Publish(ctx, m)
	return slowResult{r, p.d}
}

func (p *slowPublisher) Stop() { p.inner.Stop() }

type slowResult struct {
	r publishResult
	d time.Duration
}

func (r slowResult) Get(ctx context.Context) (string, error) {
	select {
	case <-time.After(r.d):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return r.r.Get(ctx)
}

func TestReplayRowsAreFixedWidth(t *testing.T) {
	f := newFixture(t)
	attrs := map[string]string{"kind": "sms", sourceSubscriptionAttr: "projects/my-project/subscriptions/" + strings.Repeat("very-long-name-", 10)}
	f.publishDeadLetters(t, msg("x", "", attrs), msg("y", "", attrs))
	res := f.run(t, nil, "replay", "--width", "100")
	if res.err != nil {
		t.Fatalf("replay: %v", res.err)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header, 2 rows and the totals:\n%s", res.stdout)
	}
	detail := strings.Index(lines[0], "DETAIL")
	for _, l := range lines[:3] {
		if n := len([]rune(l)); n > 100 {
			t.Errorf("row of %d characters with --width 100: %q", n, l)
		}
		if strings.Contains(l, deadLetterAttrPrefix) {
			t.Errorf("row shows the dead-letter attributes: %q", l)
		}
	}
	for _, l := range lines[1:3] {
		if strings.Index(l, "from subscription") != detail {
			t.Errorf("DETAIL column is not aligned:\n%s", res.stdout)
		}
		if !strings.HasSuffix(l, "…") {
			t.Errorf("long skip reason is not cut: %q", l)
		}
	}
	full := f.run(t, nil, "replay", "--json")
	if !strings.Contains(full.stdout, sourceSubscriptionAttr) || !strings.Contains(full.stdout, strings.Repeat("very-long-name-", 10)) {
		t.Errorf("--json lacks the full record:\n%s", full.stdout)
	}
}
