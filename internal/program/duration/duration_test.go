package duration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseAndRender(t *testing.T) {
	cases := []struct {
		in      string
		want    time.Duration
		str     string
		seconds string
	}{
		{"10s", 10 * time.Second, "10s", "10s"},
		{"3600s", time.Hour, "1h", "3600s"},
		{"60m", time.Hour, "1h", "3600s"},
		{"7d", 7 * 24 * time.Hour, "7d", "604800s"},
		{"1h30m", 90 * time.Minute, "1h30m", "5400s"},
		{"100ms", 100 * time.Millisecond, "100ms", "0s"},
		{"0s", 0, "0s", "0s"},
	}
	for _, tc := range cases {
		var d Duration
		if err := json.Unmarshal([]byte(`"`+tc.in+`"`), &d); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !d.Set || d.Duration != tc.want || d.String() != tc.str || d.GoogleSeconds() != tc.seconds {
			t.Errorf("%s: got %v set=%v %q %q, want %v %q %q", tc.in, d.Duration, d.Set, d.String(), d.GoogleSeconds(), tc.want, tc.str, tc.seconds)
		}
	}
}

func TestRejects(t *testing.T) {
	for _, in := range []string{`""`, `"ten seconds"`, `"1.5d"`, `"10"`, `10`, `null`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil && in != "null" {
			t.Errorf("%s accepted as %v", in, d)
		}
	}
}

// TestOverflow: a value a Duration cannot hold is refused as out of range,
// never wrapped into another duration; the largest that fits is read.
func TestOverflow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "106751d", want: 106751 * 24 * time.Hour},
		{in: "106752d", err: "out of range: at most 106751d"},
		{in: "213504d", err: "out of range"}, // wraps to a small positive value unchecked
		{in: "-106752d", err: "out of range"},
		{in: "99999999999999999999d", err: "out of range"},
		{in: "2562047h", want: 2562047 * time.Hour},
		{in: "2562048h", err: "out of range: at most 2562047h"},
		{in: "9223372037s", err: "out of range"},
		{in: "1.5d", err: "whole number"},
		{in: "10 s", err: "use a number with a unit"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Parse(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
		})
	}
}

// TestHuman: the one human format: 25h reads as 25h (not 1500m or 1d1h),
// whole days as days, no zero parts, and every rendering of a whole number
// of seconds reads back as the same duration.
func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                               "0s",
		10 * time.Second:                "10s",
		4 * time.Minute:                 "4m",
		29*time.Minute + 10*time.Second: "29m10s",
		90 * time.Minute:                "1h30m",
		25 * time.Hour:                  "25h",
		23*time.Hour + 30*time.Minute:   "23h30m",
		24*time.Hour + 70*time.Second:   "24h1m10s",
		2*time.Hour + 3*time.Second:     "2h3s",
		7 * 24 * time.Hour:              "7d",
		31 * 24 * time.Hour:             "31d",
		1500 * time.Millisecond:         "1.5s",
		-90 * time.Minute:               "-1h30m",
	} {
		if got := Human(d); got != want {
			t.Errorf("Human(%v) = %q, want %q", d, got, want)
		}
		if d%time.Second == 0 {
			if back, err := Parse(Human(d)); err != nil || back != d {
				t.Errorf("Parse(Human(%v)) = %v, %v", d, back, err)
			}
		}
	}
}
