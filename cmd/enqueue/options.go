package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
	"github.com/asyncjobs/asyncjobs/internal/program/tasklimits"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var command = &cli.Command{
	Name:      "enqueue",
	UsageLine: "enqueue [--stack name | --outputs file] [--queue name] [--body string | --body-file file] [flags]",
	Long: `Creates one HTTP POST task in a Cloud Tasks queue of the stack, with an OIDC
token for the worker's invoker service account, and prints the task's name.
The queue, worker URL, audience and invoker come from the stack outputs
(--outputs or --stack, with --queue when there are several queues) or from
--queue-path, --url, --audience and --service-account, which override them.
Credentials: application default credentials, or --impersonate-service-account.
CLOUD_TASKS_EMULATOR_HOST=host:port (loopback only) sends the task to a Cloud
Tasks emulator or test server, without TLS or credentials.

Exit status: 0 created, 1 failed, 2 usage (refused before any call),
130 interrupted.`,
	Hidden: opstool.HiddenFlags,
}

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
	fs.DurationVar(&f.dispatchDeadline, "dispatch-deadline", tasklimits.MaxDispatchDeadline,
		"how long Cloud Tasks waits for the worker's response (15s to 30m, and at most the worker's timeout; "+
			"when not set and the worker's timeout is shorter, the worker's timeout)")
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

// parse turns args into a CreateTaskRequest, checking every input first.
// --help prints the usage on stdout and returns flag.ErrHelp.
func parse(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) (*cloudtaskspb.CreateTaskRequest, *settings, error) {
	fs := command.FlagSet()
	var f flags
	f.register(fs)
	if err := command.Parse(fs, args, stdout); err != nil {
		return nil, nil, err
	}
	if err := f.common.EndpointFromEnv(EmulatorHostEnv); err != nil {
		return nil, nil, err
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

// EmulatorHostEnv names the environment variable that points enqueue at a
// Cloud Tasks emulator, as PUBSUB_EMULATOR_HOST does for Pub/Sub.
const EmulatorHostEnv = "CLOUD_TASKS_EMULATOR_HOST"

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
