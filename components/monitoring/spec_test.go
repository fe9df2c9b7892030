package monitoring

import (
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

func TestSpecDecodesOntoDefaults(t *testing.T) {
	var s Spec
	if err := json.Unmarshal([]byte(`{"emails": ["a@example.com"], "thresholds": {"queueDepth": 50}}`), &s); err != nil {
		t.Fatal(err)
	}
	want := DefaultSpec()
	want.Emails = []string{"a@example.com"}
	want.Thresholds.QueueDepth = 50
	if s.Enabled != true || s.Thresholds != want.Thresholds || len(s.Emails) != 1 {
		t.Errorf("decoded %+v, want %+v", s, want)
	}
	if errs := s.Validate(field.NewPath("a")); len(errs) != 0 {
		t.Errorf("the defaults are rejected: %v", errs)
	}
}

func TestSpecValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Spec)
		path   string
	}{
		{"channel without project", func(s *Spec) { s.NotificationChannels = []string{"notificationChannels/123"} }, "a.notificationChannels[0]"},
		{"channel id not numeric", func(s *Spec) { s.NotificationChannels = []string{"projects/p-1234/notificationChannels/abc"} }, "a.notificationChannels[0]"},
		{"channel of an alert policy", func(s *Spec) { s.NotificationChannels = []string{"projects/p-1234/alertPolicies/1"} }, "a.notificationChannels[0]"},
		{"channel twice", func(s *Spec) {
			s.NotificationChannels = []string{"projects/p-1234/notificationChannels/1", "projects/p-1234/notificationChannels/1"}
		}, "a.notificationChannels[1]"},
		{"e-mail without domain", func(s *Spec) { s.Emails = []string{"oncall"} }, "a.emails[0]"},
		{"e-mail with a display name", func(s *Spec) { s.Emails = []string{"On call <oncall@example.com>"} }, "a.emails[0]"},
		{"e-mail without a dot in the domain", func(s *Spec) { s.Emails = []string{"oncall@localhost"} }, "a.emails[0]"},
		{"e-mail twice", func(s *Spec) { s.Emails = []string{"a@example.com", "A@example.com"} }, "a.emails[1]"},
		{"oldest age zero", func(s *Spec) { s.Thresholds.OldestUnackedAge = duration.Of(0) }, "a.thresholds.oldestUnackedAge"},
		{"oldest age above retention", func(s *Spec) { s.Thresholds.OldestUnackedAge = duration.Of(32 * 24 * time.Hour) }, "a.thresholds.oldestUnackedAge"},
		{"oldest age fractional", func(s *Spec) { s.Thresholds.OldestUnackedAge = duration.Of(1500 * time.Millisecond) }, "a.thresholds.oldestUnackedAge"},
		{"undelivered zero", func(s *Spec) { s.Thresholds.UndeliveredMessages = 0 }, "a.thresholds.undeliveredMessages"},
		{"queue depth negative", func(s *Spec) { s.Thresholds.QueueDepth = -1 }, "a.thresholds.queueDepth"},
		{"failed attempts negative", func(s *Spec) { s.Thresholds.FailedAttemptsPerSecond = -0.1 }, "a.thresholds.failedAttemptsPerSecond"},
		{"5xx negative", func(s *Spec) { s.Thresholds.Worker5xxPerSecond = -1 }, "a.thresholds.worker5xxPerSecond"},
		{"window 30s", func(s *Spec) { s.Thresholds.Window = duration.Of(30 * time.Second) }, "a.thresholds.window"},
		{"window 90s", func(s *Spec) { s.Thresholds.Window = duration.Of(90 * time.Second) }, "a.thresholds.window"},
		{"window 26h", func(s *Spec) { s.Thresholds.Window = duration.Of(26 * time.Hour) }, "a.thresholds.window"},
		{"window unset", func(s *Spec) { s.Thresholds.Window = duration.Duration{} }, "a.thresholds.window"},
		{"duration negative", func(s *Spec) { s.Thresholds.Duration = duration.Of(-time.Minute) }, "a.thresholds.duration"},
		{"duration 45s", func(s *Spec) { s.Thresholds.Duration = duration.Of(45 * time.Second) }, "a.thresholds.duration"},
		{"duration 2d", func(s *Spec) { s.Thresholds.Duration = duration.Of(48 * time.Hour) }, "a.thresholds.duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSpec()
			tc.mutate(&s)
			errs := s.Validate(field.NewPath("a"))
			for _, e := range errs {
				if e.Field == tc.path {
					return
				}
			}
			t.Errorf("want an error at %s, got %v", tc.path, errs)
		})
	}
	ok := DefaultSpec()
	ok.NotificationChannels = []string{"projects/asyncjobs-prod/notificationChannels/1234567890", "projects/123456789012/notificationChannels/42"}
	ok.Emails = []string{"oncall@example.com", "team.alerts+asyncjobs@mail.example.co.jp"}
	ok.Thresholds.Window = duration.Of(25 * time.Hour)
	ok.Thresholds.Duration = duration.Of(0)
	ok.Thresholds.OldestUnackedAge = duration.Of(31 * 24 * time.Hour)
	ok.Thresholds.FailedAttemptsPerSecond, ok.Thresholds.Worker5xxPerSecond = 0, 0
	if errs := ok.Validate(field.NewPath("a")); len(errs) != 0 {
		t.Errorf("valid settings at the limits are rejected: %v", errs)
	}
	if !ok.HasChannels() || DefaultSpec().HasChannels() {
		t.Error("HasChannels")
	}
}

func TestDerivedOldestUnackedAge(t *testing.T) {
	for _, tc := range []struct {
		attempts           int
		ack, backoff, want time.Duration
	}{
		{5, time.Minute, 0, 10 * time.Minute},                         // 5m, raised to the 10m floor
		{10, 2 * time.Minute, 10 * time.Minute, 2 * time.Hour},        // the prod worker subscription
		{20, 61 * time.Second, 0, 21 * time.Minute},                   // 1220s, rounded up to whole minutes
		{100, 10 * time.Minute, 10 * time.Minute, 2000 * time.Minute}, // the most Pub/Sub allows
		{5, 10 * time.Second, 0, MinDerivedAge},                       // short deadlines
		{7, 90 * time.Second, 30 * time.Second, 14 * time.Minute},     // 7 x 2m
		{6, 100 * time.Second, 20 * time.Second, 12 * time.Minute},    // 720s
		{11, 100 * time.Second, time.Second, 19 * time.Minute},        // 1111s, rounded up to 1140s
	} {
		if got := DerivedOldestUnackedAge(tc.attempts, tc.ack, tc.backoff); got != tc.want {
			t.Errorf("DerivedOldestUnackedAge(%d, %s, %s) = %s, want %s", tc.attempts, tc.ack, tc.backoff, got, tc.want)
		}
	}
	s := Subscription{MaxDeliveryAttempts: 10, AckDeadline: 2 * time.Minute}
	set := DefaultSpec().Thresholds
	set.OldestUnackedAge = duration.Of(3 * time.Minute)
	if got := s.OldestUnackedAge(set); got != 3*time.Minute {
		t.Errorf("a configured threshold is not used: %s", got)
	}
	if got := s.OldestUnackedAge(DefaultSpec().Thresholds); got != 20*time.Minute {
		t.Errorf("derived threshold %s, want 20m", got)
	}
}
