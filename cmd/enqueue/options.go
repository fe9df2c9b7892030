package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/asyncjobs/asyncjobs/internal/opstool"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits from google/cloud/tasks/v2 and the Cloud Tasks quotas page.
const (
	minDispatchDeadline = 15 * time.Second
	maxDispatchDeadline = 30 * time.Minute
	maxScheduleDelay    = 30 * 24 * time.Hour
	maxTaskSize         = 1 << 20 // "Maximum task size: 1MB"
	maxHeadersSize      = 80 << 10
	randomIDLength      = 8
)

const usageText = `Usage: enqueue [flags]

Creates one HTTP POST task in a Cloud Tasks queue of the stack, with an OIDC
token for the worker's invoker service account, and prints the task's name.
The queue, worker URL, audience and invoker come from the stack outputs
(--outputs or --stack, with --queue when there are several queues) or from
--queue-path, --url, --audience and --service-account, which override them.
Credentials: application default credentials, or --impersonate-service-account.
CLOUD_TASKS_EMULATOR_HOST=host:port (loopback only) sends the task to a Cloud
Tasks emulator or test server, without TLS or credentials.

Exit status: 0 created, 1 failed, 2 usage (refused before any call),
130 interrupted.`

// flags holds the raw command-line values.
type flags struct {
	common           opstool.Common
	queue            string
	queuePath        string
	url              string
	audience         string
	serviceAccount   string
	path             string
	body             string
	bodyFile         string
	contentType      string
	headers          opstool.KeyValues
	delay            delayValue
	at               string
	dispatchDeadline time.Duration
	namePrefix       string
	taskName         string
	retryInitial     time.Duration
	retryMax         time.Duration
	retryMultiplier  float64
	timeout          time.Duration
}

func (f *flags) register(fs *flag.FlagSet) {
	f.common.Register(fs)
	fs.StringVar(&f.queue, "queue", "", "queue `name` (a key of queues in the stack outputs); required only when there are several")
	fs.StringVar(&f.queuePath, "queue-path", "", "full queue `name` projects/P/locations/L/queues/Q (overrides the outputs)")
	fs.StringVar(&f.url, "url", "", "worker base `URL`, https (overrides the outputs)")
	fs.StringVar(&f.audience, "audience", "", "OIDC token `audience` (overrides the outputs; default: the worker base URL)")
	fs.StringVar(&f.serviceAccount, "service-account", "", "invoker service account `email` the OIDC token is minted for (overrides the outputs)")
	fs.StringVar(&f.path, "path", "", "`/sub/path` appended to the worker URL; the audience stays the base URL")
	fs.StringVar(&f.body, "body", "", "request body `string`")
	fs.StringVar(&f.bodyFile, "body-file", "", "read the request body from this `file` (- for standard input)")
	fs.StringVar(&f.contentType, "content-type", "application/json", "Content-Type header of the task's request")
	fs.Var(&f.headers, "header", "extra request header `key=value` (repeatable)")
	fs.Var(&f.delay, "delay", "schedule the task this long from now: plain `seconds` (10) or a duration (90s, 10m, 1h30m); at most 30 days")
	fs.StringVar(&f.at, "at", "", "schedule the task at this `time`, RFC 3339 with a zone (2030-01-02T15:04:05Z or 2030-01-02T15:04:05+09:00); not with --delay")
	fs.DurationVar(&f.dispatchDeadline, "dispatch-deadline", maxDispatchDeadline, "how long Cloud Tasks waits for the worker's response (15s to 30m, and at most the worker's timeout; when not set and the worker's timeout is shorter, the worker's timeout)")
	fs.StringVar(&f.namePrefix, "name-prefix", "task-", "task ID `prefix`; the first 8 characters of a random UUID follow it")
	fs.StringVar(&f.taskName, "task-name", "", "explicit task `ID` for deduplication (letters, digits, - and _, at most 500)")
	fs.DurationVar(&f.retryInitial, "retry-initial", 5*time.Second, "first pause before retrying a transient error")
	fs.DurationVar(&f.retryMax, "retry-max", 10*time.Second, "longest pause between retries")
	fs.Float64Var(&f.retryMultiplier, "retry-multiplier", 1.0, "pause growth factor between retries (>= 1)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "overall deadline for creating the task, retries included")
}

// retryPolicy says how the create call is retried on transient errors.
type retryPolicy struct {
	initial    time.Duration
	max        time.Duration
	multiplier float64
	deadline   time.Duration
}

// settings are the checked inputs that are not part of the request.
type settings struct {
	common opstool.Common
	retry  retryPolicy
	// generatedName is true when the task ID was made up here, so an
	// AlreadyExists after a lost response can only be our own task.
	generatedName bool
}

// target is where the task goes, and where each value came from.
type target struct {
	queuePath, url, audience, serviceAccount string
	workerTimeout                            time.Duration
	from                                     map[string]string // field -> origin, for messages
}

func (t *target) origin(field string) string {
	if o, ok := t.from[field]; ok {
		return o
	}
	return "--" + field
}

// parse turns args into a CreateTaskRequest, checking every input first.
func parse(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) (*cloudtaskspb.CreateTaskRequest, *settings, error) {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	// Errors are one line; the usage text is printed for --help only.
	fs.SetOutput(io.Discard)
	var f flags
	f.register(fs)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			opstool.PrintUsage(stderr, fs, usageText)
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w (see enqueue --help)", err)
	}
	if err := f.common.EndpointFromEnv(EmulatorHostEnv); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q: every input is a flag (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	if errs := f.common.Validate(); len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	tgt, err := resolveTarget(ctx, &f)
	if err != nil {
		return nil, nil, err
	}

	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkTarget(tgt))
	fullURL, err := joinURL(tgt.url, f.path)
	add(err)
	schedule, err := scheduleTime(f.delay, f.at, set["delay"], time.Now())
	add(err)
	deadline, err := dispatchDeadline(f.dispatchDeadline, set["dispatch-deadline"], tgt.workerTimeout)
	add(err)
	taskID, generated, err := taskID(f.taskName, f.namePrefix, set["name-prefix"])
	add(err)
	headers, err := buildHeaders(f.contentType, f.headers.Pairs)
	add(err)
	body, err := readBody(f.body, f.bodyFile, set["body"], stdin)
	add(err)
	if err == nil {
		add(checkBody(body, f.contentType, headers))
	}
	retry, err := checkRetry(f)
	add(err)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}

	req := &cloudtaskspb.CreateTaskRequest{
		Parent: tgt.queuePath,
		Task: &cloudtaskspb.Task{
			Name:             tgt.queuePath + "/tasks/" + taskID,
			ScheduleTime:     timestamppb.New(schedule),
			DispatchDeadline: durationpb.New(deadline),
			MessageType: &cloudtaskspb.Task_HttpRequest{
				HttpRequest: &cloudtaskspb.HttpRequest{
					Url:        fullURL,
					HttpMethod: cloudtaskspb.HttpMethod_POST,
					Headers:    headers,
					Body:       body,
					AuthorizationHeader: &cloudtaskspb.HttpRequest_OidcToken{
						OidcToken: &cloudtaskspb.OidcToken{
							ServiceAccountEmail: tgt.serviceAccount,
							Audience:            tgt.audience,
						},
					},
				},
			},
		},
	}
	return req, &settings{common: f.common, retry: retry, generatedName: generated}, nil
}

// resolveTarget reads the stack outputs, if any, and applies the explicit
// flags over them.
func resolveTarget(ctx context.Context, f *flags) (*target, error) {
	t := &target{from: map[string]string{}}
	outs, err := f.common.LoadOutputs(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case outs != nil:
		name, q, err := outs.Queue(f.queue)
		if err != nil {
			return nil, err
		}
		t.queuePath, t.url, t.audience, t.serviceAccount = q.QueuePath, q.WorkerURL, q.Audience, q.InvokerServiceAccount
		t.workerTimeout = time.Duration(q.WorkerTimeoutSeconds) * time.Second
		for field, key := range map[string]string{"queue-path": "queuePath", "url": "workerUrl", "audience": "audience", "service-account": "invokerServiceAccount"} {
			t.from[field] = fmt.Sprintf("queues[%q].%s in the stack outputs", name, key)
		}
	case f.queue != "":
		return nil, fmt.Errorf("--queue=%q needs the stack outputs: add --outputs FILE or --stack NAME, or give --queue-path", f.queue)
	}
	override := func(field, value string, dst *string) {
		if value != "" {
			*dst = value
			delete(t.from, field)
		}
	}
	override("queue-path", f.queuePath, &t.queuePath)
	override("url", f.url, &t.url)
	override("audience", f.audience, &t.audience)
	override("service-account", f.serviceAccount, &t.serviceAccount)
	if t.audience == "" && t.url != "" {
		// Cloud Run accepts its own URL as audience; say so explicitly
		// rather than let Cloud Tasks derive it from the full task URL,
		// which includes --path.
		t.audience = t.url
	}
	return t, nil
}

func checkTarget(t *target) error {
	var errs []error
	if t.queuePath == "" {
		errs = append(errs, errors.New("no queue: give --outputs FILE or --stack NAME (with --queue NAME when the stack has several queues), or --queue-path projects/P/locations/L/queues/Q"))
	} else if err := opstool.CheckQueuePath(t.queuePath); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", t.origin("queue-path"), err))
	}
	if t.url == "" {
		errs = append(errs, errors.New("no worker URL: give --url https://... or the stack outputs"))
	} else if err := checkBaseURL(t.url); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q: %w", t.origin("url"), t.url, err))
	}
	if t.serviceAccount == "" {
		errs = append(errs, errors.New("no invoker service account: give --service-account EMAIL or the stack outputs"))
	} else if err := opstool.CheckServiceAccount(t.serviceAccount); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", t.origin("service-account"), err))
	}
	if strings.TrimSpace(t.audience) != t.audience {
		errs = append(errs, fmt.Errorf("%s=%q: surrounding spaces are not allowed", t.origin("audience"), t.audience))
	}
	return errors.Join(errs...)
}

// checkBaseURL accepts an absolute https URL without query or fragment,
// since --path is appended to it and OIDC tokens must not travel in clear.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return errors.New("want an absolute https:// URL (the task carries an OIDC token)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want a base URL without query or fragment (use --path for the rest)")
	}
	return nil
}

// joinURL appends path (which may carry a query) to the base URL.
func joinURL(base, path string) (string, error) {
	if path == "" {
		return base, nil
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("--path=%q: must start with /", path)
	}
	full := strings.TrimSuffix(base, "/") + path
	if _, err := url.Parse(full); err != nil {
		return "", fmt.Errorf("--path=%q: %w", path, err)
	}
	return full, nil
}

// EmulatorHostEnv names the environment variable that points enqueue at a
// Cloud Tasks emulator, as PUBSUB_EMULATOR_HOST does for Pub/Sub.
const EmulatorHostEnv = "CLOUD_TASKS_EMULATOR_HOST"

// delayValue is --delay: plain seconds ("10", as IN_SECONDS=10 was) or a
// Go duration ("90s", "10m").
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
	if d < minDispatchDeadline || d > maxDispatchDeadline {
		if !explicit {
			return 0, fmt.Errorf("--dispatch-deadline: the worker's timeout %s (workerTimeoutSeconds in the stack outputs) is below Cloud Tasks' minimum dispatch deadline %s", workerTimeout, minDispatchDeadline)
		}
		return 0, fmt.Errorf("--dispatch-deadline=%s: must be between %s and %s", d, minDispatchDeadline, maxDispatchDeadline)
	}
	if workerTimeout > 0 && d > workerTimeout {
		return 0, fmt.Errorf("--dispatch-deadline=%s: exceeds the worker's request timeout %s (workerTimeoutSeconds in the stack outputs); Cloud Run would end the request first", d, workerTimeout)
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
			return "", false, fmt.Errorf("--name-prefix=%q: at most %d characters, since %d random characters follow it", prefix, opstool.MaxTaskIDLength-randomIDLength, randomIDLength)
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

func checkRetry(f flags) (retryPolicy, error) {
	var errs []error
	if f.retryInitial <= 0 {
		errs = append(errs, fmt.Errorf("--retry-initial=%s: must be positive", f.retryInitial))
	}
	if f.retryMax < f.retryInitial {
		errs = append(errs, fmt.Errorf("--retry-max=%s: must be at least --retry-initial=%s", f.retryMax, f.retryInitial))
	}
	if f.retryMultiplier < 1 {
		errs = append(errs, fmt.Errorf("--retry-multiplier=%g: must be at least 1", f.retryMultiplier))
	}
	if f.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout=%s: must be positive", f.timeout))
	}
	return retryPolicy{initial: f.retryInitial, max: f.retryMax, multiplier: f.retryMultiplier, deadline: f.timeout}, errors.Join(errs...)
}
