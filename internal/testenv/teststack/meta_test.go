package teststack

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidatePrefix(t *testing.T) {
	protected := []string{"dev", "prod"}
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"pr-", true},
		{"test_", true},
		{"ci.", true},
		{"dev-", true}, // "dev" does not start with "dev-"
		{"", false},
		{"d", false},
		{"p", false},
		{"-", false},
		{"pr", false}, // no separator: would also match "prod"
		{"de", false},
		{"pro", false},
		{"prod", false},
		{"pr*", false},
		{"../", false},
		{"pr-/x-", false},
	} {
		err := ValidatePrefix(tc.prefix, protected)
		if (err == nil) != tc.ok {
			t.Errorf("ValidatePrefix(%q) = %v, want ok=%v", tc.prefix, err, tc.ok)
		}
	}
	// A protected name that starts with the prefix makes it unusable.
	if err := ValidatePrefix("pr-", []string{"pr-main"}); err == nil || !strings.Contains(err.Error(), "pr-main") {
		t.Errorf("prefix of a protected name: %v", err)
	}
}

func TestValidateName(t *testing.T) {
	protected := []string{"dev", "prod"}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"pr-123", true},
		{"org/pr-123", true},
		{"org/asyncjobs/pr-123", true},
		{"dev", false},
		{"Prod", false},
		{"org/asyncjobs/prod", false},
		{"", false},
		{"a/b/c/d", false},
		{"pr 1", false},
		{"pr-1/", false},
	} {
		err := ValidateName(tc.name, protected)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidateTTLAndOwner(t *testing.T) {
	for _, d := range []time.Duration{0, time.Minute, 24 * time.Hour, MaxTTL} {
		if err := ValidateTTL(d); err != nil {
			t.Errorf("ValidateTTL(%s) = %v", d, err)
		}
	}
	for _, d := range []time.Duration{-time.Hour, time.Second, MaxTTL + time.Hour} {
		if err := ValidateTTL(d); err == nil {
			t.Errorf("ValidateTTL(%s) accepted", d)
		}
	}
	if err := ValidateOwner("octocat"); err != nil {
		t.Error(err)
	}
	if err := ValidateOwner("a\nb"); err == nil {
		t.Error("owner with a newline accepted")
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{Created: t0, Updated: t0.Add(time.Hour), TTL: 90 * time.Minute, Owner: "alice", Template: "dev", Suffix: "abc123"}
	for _, tc := range []struct {
		from   string
		values map[string]string
	}{
		{"tags", m.tags()},
		{"config", m.config()},
	} {
		got, err := parseMeta(tc.values, "abc123", tc.from)
		if err != nil {
			t.Fatalf("%s: %v", tc.from, err)
		}
		want := m
		want.From = tc.from
		if got != want {
			t.Errorf("%s: got %+v, want %+v", tc.from, got, want)
		}
	}
	if _, err := parseMeta(map[string]string{KeyTTL: "1h"}, "", "tags"); !errors.Is(err, errNoMeta) {
		t.Errorf("no creation time: err = %v, want errNoMeta", err)
	}
	if _, err := parseMeta(map[string]string{KeyCreated: "yesterday"}, "", "tags"); err == nil || errors.Is(err, errNoMeta) {
		t.Errorf("bad creation time: err = %v", err)
	}
	if _, err := parseMeta(map[string]string{KeyCreated: "2030-01-01T00:00:00Z", KeyUpdated: "soon"}, "", "config"); err == nil {
		t.Error("bad update time accepted")
	}
	// A record written before the update time was recorded: the creation stands in.
	old, err := parseMeta(map[string]string{KeyCreated: "2030-01-01T00:00:00Z", KeyTTL: "1h"}, "", "tags")
	if err != nil || !old.Updated.IsZero() || !old.LastUp().Equal(old.Created) {
		t.Errorf("old record: %+v, %v", old, err)
	}
	if _, err := parseMeta(map[string]string{KeyCreated: "2030-01-01T00:00:00Z", KeyTTL: "-1h"}, "", "config"); err == nil {
		t.Error("negative ttl accepted")
	}
}

// TestExpired: a stack expires when its own TTL has passed since its last
// up; the limit for records without a TTL never overrides a recorded one.
func TestExpired(t *testing.T) {
	m := Meta{Created: t0, TTL: 2 * time.Hour}
	for _, tc := range []struct {
		since, noTTL time.Duration
		want         bool
	}{
		{time.Hour, 0, false},
		{2 * time.Hour, 0, true},
		{3 * time.Hour, 24 * time.Hour, true}, // the recorded TTL wins
		{time.Hour, 30 * time.Minute, false},  // ... both ways
	} {
		if got := m.Expired(t0.Add(tc.since), tc.noTTL); got != tc.want {
			t.Errorf("%s after creation, no-TTL limit %s: expired %v, want %v", tc.since, tc.noTTL, got, tc.want)
		}
	}
	// Measured from the last up, not from the creation.
	used := Meta{Created: t0, Updated: t0.Add(70 * time.Hour), TTL: 24 * time.Hour}
	if used.Expired(t0.Add(72*time.Hour), 0) || !used.Expired(t0.Add(94*time.Hour), 0) {
		t.Error("a stack updated 2h ago expired, or one idle for its TTL did not")
	}
	if used.Idle(t0.Add(72*time.Hour)) != 2*time.Hour || used.Age(t0.Add(72*time.Hour)) != 72*time.Hour {
		t.Errorf("idle %s, age %s", used.Idle(t0.Add(72*time.Hour)), used.Age(t0.Add(72*time.Hour)))
	}
	// No TTL recorded: the given limit, or never.
	if (Meta{Created: t0}).Expired(t0.Add(1000*time.Hour), 0) {
		t.Error("a record without TTL expired without a limit")
	}
	if !(Meta{Created: t0}).Expired(t0.Add(25*time.Hour), 24*time.Hour) {
		t.Error("a record without TTL outlived the limit for such records")
	}
}

func TestNewSuffix(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		s, err := newSuffix(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != SuffixLength || strings.Trim(s, suffixAlphabet) != "" {
			t.Fatalf("suffix %q", s)
		}
		seen[s] = true
	}
	if len(seen) < 199 {
		t.Errorf("only %d distinct suffixes in 200 draws", len(seen))
	}
	// Bytes above the largest multiple of 36 are rejected, not folded.
	s, err := newSuffix(bytes.NewReader([]byte{255, 252, 0, 1, 2, 3, 35, 36}))
	if err != nil || s != "abcd9a" {
		t.Errorf("newSuffix = %q, %v; want abcd9a", s, err)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	w := newPrefixWriter(&b, "[pr-1] ")
	if _, err := w.Write([]byte("one\ntw")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("o\nthree")); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if got, want := b.String(), "[pr-1] one\n[pr-1] two\n[pr-1] three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPrefixWriterDropsTheStackRmHint(t *testing.T) {
	var b bytes.Buffer
	w := newPrefixWriter(&b, "[pr-1] ")
	w.drop = removeHints
	if _, err := w.Write([]byte("Resources:\n    - 3 deleted\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("The resources in the stack have been deleted, " +
		"but the history and configuration associated with the stack are still maintained.\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("If you want to remove the stack completely, run `pulumi stack rm pr-1`.\nDuration: 2s\n")); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if got, want := b.String(), "[pr-1] Resources:\n[pr-1]     - 3 deleted\n[pr-1] Duration: 2s\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
