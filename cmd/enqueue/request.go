package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
	"github.com/asyncjobs/asyncjobs/internal/program/tasklimits"
	"github.com/google/uuid"
)

// Limits from google/cloud/tasks/v2 and the Cloud Tasks quotas page.
const (
	maxScheduleDelay = 30 * 24 * time.Hour
	maxTaskSize      = 1 << 20 // "Maximum task size: 1MB"
	maxHeadersSize   = 80 << 10
	randomIDLength   = 8
)

// delayValue is --delay: plain seconds ("10") or a Go duration ("90s",
// "10m").
type delayValue struct{ d time.Duration }

func (v *delayValue) String() string { return v.d.String() }

func (v *delayValue) Set(s string) error {
	if secs, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "eEnNiI") {
		v.d = time.Duration(secs * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want seconds or a duration, e.g. --delay 10 or --delay 90s, 10m, 1h30m")
	}
	v.d = d
	return nil
}

// scheduleTime is when the task runs: now plus --delay, or --at.
func scheduleTime(delay delayValue, at string, delaySet bool, now time.Time) (time.Time, error) {
	d := delay.d
	if at != "" {
		if delaySet {
			return time.Time{}, fmt.Errorf("--delay=%s and --at=%q: give only one", d, at)
		}
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return time.Time{}, fmt.Errorf("--at=%q: want an RFC 3339 time with a zone, e.g. --at 2030-01-02T15:04:05Z", at)
		}
		if t.Before(now.Add(-time.Minute)) {
			return time.Time{}, fmt.Errorf("--at=%q: in the past", at)
		}
		if t.Sub(now) > maxScheduleDelay {
			return time.Time{}, fmt.Errorf("--at=%q: more than 30 days ahead (Cloud Tasks schedules at most 30 days ahead)", at)
		}
		return t, nil
	}
	if d < 0 || d > maxScheduleDelay {
		return time.Time{}, fmt.Errorf("--delay=%s: must be between 0s and %s (Cloud Tasks schedules at most 30 days ahead)", d, maxScheduleDelay)
	}
	return now.Add(d), nil
}

// dispatchDeadline checks the dispatch deadline against Cloud Tasks' range
// and the worker's request timeout. When the flag was not set and the worker
// times out sooner than the default, the worker's timeout is used.
func dispatchDeadline(d time.Duration, explicit bool, workerTimeout time.Duration) (time.Duration, error) {
	if !explicit && workerTimeout > 0 && workerTimeout < d {
		d = workerTimeout
	}
	if d < tasklimits.MinDispatchDeadline || d > tasklimits.MaxDispatchDeadline {
		if !explicit {
			return 0, fmt.Errorf("--dispatch-deadline: the worker's timeout %s (workerTimeoutSeconds in the stack outputs) "+
				"is below Cloud Tasks' minimum dispatch deadline %s", workerTimeout, tasklimits.MinDispatchDeadline)
		}
		return 0, fmt.Errorf("--dispatch-deadline=%s: must be between %s and %s", d, tasklimits.MinDispatchDeadline, tasklimits.MaxDispatchDeadline)
	}
	if workerTimeout > 0 && d > workerTimeout {
		return 0, fmt.Errorf("--dispatch-deadline=%s: exceeds the worker's request timeout %s (workerTimeoutSeconds in the stack outputs); "+
			"Cloud Run would end the request first", d, workerTimeout)
	}
	return d, nil
}

// taskID returns the explicit task ID, or prefix plus 8 random hex digits.
func taskID(explicit, prefix string, prefixSet bool) (id string, generated bool, err error) {
	if explicit != "" {
		if prefixSet {
			return "", false, fmt.Errorf("--task-name=%q and --name-prefix=%q: give only one", explicit, prefix)
		}
		if err := opstool.CheckTaskID(explicit); err != nil {
			return "", false, fmt.Errorf("--task-name: %w", err)
		}
		return explicit, false, nil
	}
	if prefix != "" {
		if err := opstool.CheckTaskID(prefix); err != nil {
			return "", false, fmt.Errorf("--name-prefix: %w", err)
		}
		if len(prefix)+randomIDLength > opstool.MaxTaskIDLength {
			return "", false, fmt.Errorf("--name-prefix=%q: at most %d characters, since %d random characters follow it",
				prefix, opstool.MaxTaskIDLength-randomIDLength, randomIDLength)
		}
	}
	u, err := uuid.NewRandom()
	if err != nil {
		return "", false, fmt.Errorf("make a task ID: %w", err)
	}
	return prefix + u.String()[:randomIDLength], true, nil
}

// reservedHeaders are set or dropped by Cloud Tasks (google/cloud/tasks/v2
// target.proto), or replaced by the OIDC token.
var reservedHeaders = map[string]string{
	"host":           "Cloud Tasks derives it from the URL",
	"content-length": "Cloud Tasks computes it",
	"user-agent":     `Cloud Tasks sets it to "Google-Cloud-Tasks"`,
	"authorization":  "the OIDC token replaces it",
	"content-type":   "use --content-type",
}

func buildHeaders(contentType string, extra []opstool.KeyValue) (map[string]string, error) {
	var errs []error
	headers := map[string]string{}
	seen := map[string]bool{}
	if contentType == "" {
		errs = append(errs, errors.New(`--content-type="": must not be empty`))
	} else if _, _, err := mime.ParseMediaType(contentType); err != nil {
		errs = append(errs, fmt.Errorf("--content-type=%q: not a media type: %w", contentType, err))
	} else {
		headers["Content-Type"] = contentType
	}
	size := len("Content-Type") + len(contentType)
	for _, h := range extra {
		lower := strings.ToLower(h.Key)
		switch {
		case !isToken(h.Key):
			errs = append(errs, fmt.Errorf("--header=%q: %q is not a valid header name", h.Key+"="+h.Value, h.Key))
		case reservedHeaders[lower] != "":
			errs = append(errs, fmt.Errorf("--header=%q: %s cannot be set here: %s", h.Key+"="+h.Value, h.Key, reservedHeaders[lower]))
		case strings.HasPrefix(lower, "x-google-") || strings.HasPrefix(lower, "x-appengine-"):
			errs = append(errs, fmt.Errorf("--header=%q: X-Google-* and X-AppEngine-* headers are reserved for Google", h.Key+"="+h.Value))
		case strings.ContainsAny(h.Value, "\r\n\x00"):
			errs = append(errs, fmt.Errorf("--header=%q: the value must not contain CR, LF or NUL", h.Key))
		case seen[lower]:
			errs = append(errs, fmt.Errorf("--header=%q: %s given twice (join several values with commas)", h.Key+"="+h.Value, h.Key))
		default:
			seen[lower] = true
			headers[h.Key] = h.Value
			size += len(h.Key) + len(h.Value)
		}
	}
	if size >= maxHeadersSize {
		errs = append(errs, fmt.Errorf("--header: the headers take %d bytes; Cloud Tasks allows less than %d", size, maxHeadersSize))
	}
	return headers, errors.Join(errs...)
}

// isToken reports whether s is an HTTP field name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

func readBody(body, file string, bodySet bool, stdin io.Reader) ([]byte, error) {
	switch {
	case bodySet && file != "":
		return nil, fmt.Errorf("--body and --body-file=%q: give only one", file)
	case file == "-":
		if stdin == nil {
			return nil, errors.New("--body-file=-: no standard input")
		}
		b, err := io.ReadAll(io.LimitReader(stdin, maxTaskSize+1))
		if err != nil {
			return nil, fmt.Errorf("--body-file=-: read standard input: %w", err)
		}
		return b, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--body-file=%q: %w", file, err)
		}
		return b, nil
	default:
		return []byte(body), nil
	}
}

func checkBody(body []byte, contentType string, headers map[string]string) error {
	size := len(body)
	for k, v := range headers {
		size += len(k) + len(v)
	}
	if size > maxTaskSize {
		return fmt.Errorf("body: %d bytes with the headers; a task may be at most %d bytes", size, maxTaskSize)
	}
	if len(body) == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil // reported with --content-type
	}
	if (mt == "application/json" || strings.HasSuffix(mt, "+json")) && !json.Valid(body) {
		return fmt.Errorf("body: not valid JSON, but --content-type is %q (set --content-type for other bodies)", contentType)
	}
	return nil
}
