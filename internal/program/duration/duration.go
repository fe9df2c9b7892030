// Package duration provides the duration type used in asyncjobs configuration:
// Go duration syntax ("90s", "60m", "1h30m") plus whole days ("7d"), rendered
// for Google APIs as whole seconds ("3600s").
package duration

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a non-negative span of time read from configuration.
type Duration struct {
	time.Duration
	// Set reports whether the value was present in the configuration.
	Set bool
	// text is the value as written in the configuration.
	text string
}

// Of returns a set Duration of d.
func Of(d time.Duration) Duration { return Duration{Duration: d, Set: true} }

// Seconds returns d as N whole seconds.
func Seconds(n int64) Duration { return Of(time.Duration(n) * time.Second) }

// ParseError is a duration that cannot be read.
type ParseError struct {
	Text   string
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("invalid duration %q: %s", e.Text, e.Reason) }

// Detail says what is wrong without repeating the value.
func (e *ParseError) Detail() string { return "not a duration: " + e.Reason }

// Parse reads "7d", "60m", "3600s" or any Go duration.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, &ParseError{Text: s, Reason: "empty; use a number with a unit such as 10s, 60m, 7d"}
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if errors.Is(err, strconv.ErrRange) || err == nil && (n > MaxDays || n < -MaxDays) {
			return 0, &ParseError{Text: s, Reason: fmt.Sprintf("out of range: at most %dd (about 292 years)", MaxDays)}
		}
		if err != nil {
			return 0, &ParseError{Text: s, Reason: "days must be a whole number, such as 7d"}
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if goSyntax.MatchString(s) {
			// Well formed, so time.ParseDuration refused it for overflow.
			return 0, &ParseError{Text: s, Reason: fmt.Sprintf("out of range: at most %s (about 292 years)", maxText)}
		}
		return 0, &ParseError{Text: s, Reason: "use a number with a unit such as 10s, 60m, 7d"}
	}
	return d, nil
}

// MaxDays is the largest day count a Duration holds: time.Duration is an
// int64 of nanoseconds, so 106751 days (about 292 years).
const MaxDays = int64(math.MaxInt64 / int64(24*time.Hour))

// maxText is the largest Duration in hours, as an error names it.
var maxText = fmt.Sprintf("%dh", int64(math.MaxInt64/int64(time.Hour)))

// goSyntax is the syntax time.ParseDuration reads: a signed sequence of
// decimal numbers, each with a unit.
var goSyntax = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10s\", \"60m\" or \"7d\", got %s", string(b))
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*d = Of(v)
	d.text = s
	return nil
}

// Written is the value as written in the configuration (the canonical form
// for a value that was not read from it), for messages that quote it.
func (d Duration) Written() string {
	if d.text != "" {
		return d.text
	}
	return d.String()
}

// Equal reports whether two durations are the same span, set or not, however written.
func (d Duration) Equal(o Duration) bool { return d.Duration == o.Duration && d.Set == o.Set }

// MarshalJSON writes the canonical form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// String renders the duration as Human does, which Parse reads back.
func (d Duration) String() string { return Human(d.Duration) }

// Human is the one way the project writes a duration for people, in plans,
// warnings, alert runbooks and commands alike, and one that Parse (and so
// the configuration) reads back: whole days as days ("7d"), anything else
// in hours, minutes and seconds without the zero parts ("25h", "23h30m",
// "1h30s", "10s"), and sub-second spans as Go writes them ("1.5s").
func Human(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < 0:
		return "-" + Human(-d)
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Second != 0:
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

// GoogleSeconds renders the duration as Google APIs expect it ("3600s").
// Sub-second parts are truncated, as the APIs themselves do.
func (d Duration) GoogleSeconds() string {
	return fmt.Sprintf("%ds", int64(d.Duration/time.Second))
}

// WholeSeconds returns the duration in whole seconds.
func (d Duration) WholeSeconds() int64 { return int64(d.Duration / time.Second) }
