package duration

import (
	"encoding/json"
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
		{"3600s", time.Hour, "60m", "3600s"},
		{"60m", time.Hour, "60m", "3600s"},
		{"7d", 7 * 24 * time.Hour, "7d", "604800s"},
		{"1h30m", 90 * time.Minute, "90m", "5400s"},
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
