package main

import (
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
)

func TestExcerpt(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		limit int
		want  string
	}{
		{name: "empty", data: "", limit: 10, want: ""},
		{name: "short text", data: `{"a":1}`, limit: 10, want: `{"a":1}`},
		{name: "whitespace folded", data: "a\n\tb   c\r\n", limit: 10, want: "a b c"},
		{name: "text cut at limit runes", data: "ééééééééééé", limit: 4, want: "éééé…"},
		{name: "binary as hex", data: "\x00\x01\xfe", limit: 10, want: "hex:0001fe"},
		{name: "long binary cut at half the limit in bytes", data: "\x00\x01\x02\x03\x04\x05", limit: 8, want: "hex:00010203…"},
		{name: "invalid UTF-8 as hex", data: "ab\xff", limit: 10, want: "hex:6162ff"},
		{name: "control characters as hex", data: "ab\x1b[0m", limit: 20, want: "hex:61621b5b306d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := excerpt([]byte(tt.data), tt.limit); got != tt.want {
				t.Errorf("excerpt(%q, %d) = %q, want %q", tt.data, tt.limit, got, tt.want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "empty shows a dash", in: "", want: "-"},
		{name: "plain", in: "kind=a", want: "kind=a"},
		{name: "tab quoted", in: "a\tb", want: `"a\tb"`},
		{name: "newline quoted", in: "a\nb", want: `"a\nb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cell(tt.in); got != tt.want {
				t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAttemptColumn(t *testing.T) {
	tests := []struct {
		name string
		v    messageView
		want string
	}{
		{name: "delivery attempt", v: messageView{DeliveryAttempt: 3}, want: "3"},
		{name: "falls back to the dead-letter count", v: messageView{Attributes: map[string]string{sourceDeliveryCountAttr: "5"}}, want: "5"},
		{name: "unknown", v: messageView{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := colAttempt.value(tt.v); got != tt.want {
				t.Errorf("attempt = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSkipReason(t *testing.T) {
	received := func(attrs map[string]string) *pubsubpb.ReceivedMessage {
		return &pubsubpb.ReceivedMessage{Message: &pubsubpb.PubsubMessage{MessageId: "1", Attributes: attrs}}
	}
	filters := func(kv ...string) opstool.KeyValues {
		var out opstool.KeyValues
		for _, s := range kv {
			if err := out.Set(s); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		attrs   map[string]string
		cfg     config
		wantHas string // "" means replay
	}{
		{name: "no filter", attrs: nil, cfg: config{}},
		{name: "filter matches", attrs: map[string]string{"kind": "a", "x": "1"}, cfg: config{filters: filters("kind=a", "x=1")}},
		{name: "filter value differs", attrs: map[string]string{"kind": "b"}, cfg: config{filters: filters("kind=a")}, wantHas: "filter: kind=b, want a"},
		{name: "filter attribute absent", attrs: nil, cfg: config{filters: filters("kind=a")}, wantHas: "(absent)"},
		{name: "one of two filters fails", attrs: map[string]string{"kind": "a"}, cfg: config{filters: filters("kind=a", "x=1")}, wantHas: "x=(absent)"},
		{name: "empty value matches empty", attrs: map[string]string{"kind": ""}, cfg: config{filters: filters("kind=")}},
		{name: "source by full name", attrs: map[string]string{sourceSubscriptionAttr: sub}, cfg: config{sourceSubscription: sub}},
		{name: "source by ID", attrs: map[string]string{sourceSubscriptionAttr: "jobs-worker"}, cfg: config{sourceSubscription: sub}},
		{name: "other source", attrs: map[string]string{sourceSubscriptionAttr: "other"}, cfg: config{sourceSubscription: sub}, wantHas: "from subscription other"},
		{name: "source unknown to the run", attrs: map[string]string{sourceSubscriptionAttr: "other"}, cfg: config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := skipReason(received(tt.attrs), &tt.cfg)
			if tt.wantHas == "" && got != "" {
				t.Errorf("skipped (%s), want replayed", got)
			}
			if tt.wantHas != "" && !strings.Contains(got, tt.wantHas) {
				t.Errorf("reason %q, want it to contain %q", got, tt.wantHas)
			}
		})
	}
}

func TestRepublished(t *testing.T) {
	m := &pubsubpb.ReceivedMessage{Message: &pubsubpb.PubsubMessage{
		MessageId:   "dl-7",
		Data:        []byte("payload"),
		OrderingKey: "order-9",
		Attributes: map[string]string{
			"kind":                  "report",
			sourceSubscriptionAttr:  sub,
			sourceDeliveryCountAttr: "5",
			"CloudPubSubDeadLetterSourceTopicPublishTime": "2024-01-01T00:00:00Z",
			replayedFromAttr: "older",
		},
	}}
	got := republished(m)
	if string(got.Data) != "payload" || got.OrderingKey != "order-9" {
		t.Errorf("data %q key %q", got.Data, got.OrderingKey)
	}
	want := map[string]string{"kind": "report", replayedFromAttr: "dl-7"}
	if len(got.Attributes) != len(want) {
		t.Errorf("attributes %v, want %v", got.Attributes, want)
	}
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got.Attributes[k], v)
		}
	}
	if _, ok := m.GetMessage().GetAttributes()[replayedFromAttr]; !ok || m.GetMessage().GetAttributes()[replayedFromAttr] != "older" {
		t.Errorf("republished changed the dead letter's own attributes: %v", m.GetMessage().GetAttributes())
	}
}

func TestCountsString(t *testing.T) {
	tests := []struct {
		name string
		c    counts
		want string
	}{
		{name: "replay", c: counts{Replayed: 3, Skipped: 1, Failed: 2}, want: "replayed 3, skipped 1, failed 2"},
		{name: "dry run", c: counts{Replayed: 3, DryRun: true}, want: "would replay 3, skipped 0, failed 0"},
		{name: "ack failures", c: counts{Replayed: 2, AckFailed: 2}, want: "replayed 2, skipped 0, failed 0, not acknowledged after publishing 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
