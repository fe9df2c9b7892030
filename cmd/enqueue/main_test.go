package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

const (
	queuePath = "projects/my-project/locations/asia-northeast1/queues/sample-queue"
	workerURL = "https://worker-abc-an.a.run.app"
	invoker   = "tasks-invoker@my-project.iam.gserviceaccount.com"
)

// fakeTasks is a Cloud Tasks server that records every CreateTask request
// and answers with the scripted errors first, then success.
type fakeTasks struct {
	cloudtaskspb.UnimplementedCloudTasksServer

	mu     sync.Mutex
	reqs   []*cloudtaskspb.CreateTaskRequest
	script []codes.Code // code for call i; codes.OK or past the end: success
	always codes.Code   // when not OK, every call fails with it
}

func (f *fakeTasks) CreateTask(_ context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, proto.Clone(req).(*cloudtaskspb.CreateTaskRequest))
	n := len(f.reqs) - 1
	if f.always != codes.OK {
		return nil, status.Error(f.always, "scripted failure")
	}
	if n < len(f.script) && f.script[n] != codes.OK {
		return nil, status.Errorf(f.script[n], "scripted failure %d", n+1)
	}
	task := proto.Clone(req.GetTask()).(*cloudtaskspb.Task)
	return task, nil
}

func (f *fakeTasks) requests() []*cloudtaskspb.CreateTaskRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*cloudtaskspb.CreateTaskRequest(nil), f.reqs...)
}

// startFake serves f on a loopback port and returns host:port.
func startFake(t *testing.T, f *fakeTasks) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	cloudtaskspb.RegisterCloudTasksServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// fastRetry keeps retry tests in milliseconds.
var fastRetry = []string{"--retry-initial", "10ms", "--retry-max", "20ms", "--timeout", "5s"}

type result struct {
	err            error
	stdout, stderr string
}

func runCmd(t *testing.T, args []string, stdin string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{err: err, stdout: out.String(), stderr: errOut.String()}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnqueueBuildsTheTaskFromOutputs(t *testing.T) {
	fake := &fakeTasks{}
	addr := startFake(t, fake)
	before := time.Now()
	res := runCmd(t, []string{
		"--outputs", "testdata/outputs.json", "--endpoint", addr,
		"--body", `{"message": "test message"}`,
		"--header", "X-Trace=abc", "--header", "X-Job-Kind=report",
		"--path", "/jobs/run?x=1", "--delay", "90s",
	}, "")
	after := time.Now()
	if res.err != nil {
		t.Fatalf("run: %v\nstderr: %s", res.err, res.stderr)
	}
	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.GetParent() != queuePath {
		t.Errorf("parent = %q, want %q", req.GetParent(), queuePath)
	}
	task := req.GetTask()
	nameRE := regexp.MustCompile("^" + regexp.QuoteMeta(queuePath+"/tasks/task-") + "[0-9a-f]{8}$")
	if !nameRE.MatchString(task.GetName()) {
		t.Errorf("task name = %q, want %s", task.GetName(), nameRE)
	}
	if got, want := res.stdout, task.GetName()+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	hr := task.GetHttpRequest()
	if hr == nil {
		t.Fatalf("task has no HTTP request: %v", task)
	}
	if got, want := hr.GetUrl(), workerURL+"/jobs/run?x=1"; got != want {
		t.Errorf("url = %q, want %q", got, want)
	}
	if hr.GetHttpMethod() != cloudtaskspb.HttpMethod_POST {
		t.Errorf("method = %v, want POST", hr.GetHttpMethod())
	}
	wantHeaders := map[string]string{"Content-Type": "application/json", "X-Trace": "abc", "X-Job-Kind": "report"}
	if len(hr.GetHeaders()) != len(wantHeaders) {
		t.Errorf("headers = %v, want %v", hr.GetHeaders(), wantHeaders)
	}
	for k, v := range wantHeaders {
		if hr.GetHeaders()[k] != v {
			t.Errorf("header %s = %q, want %q", k, hr.GetHeaders()[k], v)
		}
	}
	if got := string(hr.GetBody()); got != `{"message": "test message"}` {
		t.Errorf("body = %q", got)
	}
	oidc := hr.GetOidcToken()
	if oidc.GetServiceAccountEmail() != invoker {
		t.Errorf("OIDC service account = %q, want %q", oidc.GetServiceAccountEmail(), invoker)
	}
	if oidc.GetAudience() != workerURL {
		t.Errorf("OIDC audience = %q, want the base URL %q", oidc.GetAudience(), workerURL)
	}
	sched := task.GetScheduleTime().AsTime()
	if sched.Before(before.Add(90*time.Second).Truncate(time.Second)) || sched.After(after.Add(90*time.Second)) {
		t.Errorf("schedule time = %v, want now+90s (between %v and %v)", sched, before.Add(90*time.Second), after.Add(90*time.Second))
	}
	if got := task.GetDispatchDeadline().AsDuration(); got != 30*time.Minute {
		t.Errorf("dispatch deadline = %v, want 30m", got)
	}
}

func TestEnqueueVariants(t *testing.T) {
	twoQueues := "testdata/outputs-two-queues.json"
	tests := []struct {
		name  string
		args  []string
		stdin string
		check func(t *testing.T, task *cloudtaskspb.Task)
	}{
		{
			name: "body from file",
			args: []string{"--outputs", "testdata/outputs.json", "--body-file", "testdata/body.json"},
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				if got := string(task.GetHttpRequest().GetBody()); got != "{\"message\": \"from a file\"}\n" {
					t.Errorf("body = %q", got)
				}
			},
		},
		{
			name:  "body from stdin",
			args:  []string{"--outputs", "testdata/outputs.json", "--body-file", "-"},
			stdin: `{"from":"stdin"}`,
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				if got := string(task.GetHttpRequest().GetBody()); got != `{"from":"stdin"}` {
					t.Errorf("body = %q", got)
				}
			},
		},
		{
			name: "content type and no delay",
			args: []string{"--outputs", "testdata/outputs.json", "--content-type", "text/plain; charset=utf-8", "--body", "plain words"},
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				if got := task.GetHttpRequest().GetHeaders()["Content-Type"]; got != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type = %q", got)
				}
				if d := time.Until(task.GetScheduleTime().AsTime()); d > time.Second || d < -time.Minute {
					t.Errorf("schedule time %v is not about now", task.GetScheduleTime().AsTime())
				}
			},
		},
		{
			name: "explicit task name",
			args: []string{"--outputs", "testdata/outputs.json", "--task-name", "order-42_retry"},
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				if got, want := task.GetName(), queuePath+"/tasks/order-42_retry"; got != want {
					t.Errorf("name = %q, want %q", got, want)
				}
			},
		},
		{
			name: "name prefix",
			args: []string{"--outputs", "testdata/outputs.json", "--name-prefix", "sample-task-"},
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				re := regexp.MustCompile("/tasks/sample-task-[0-9a-f]{8}$")
				if !re.MatchString(task.GetName()) {
					t.Errorf("name = %q, want %s", task.GetName(), re)
				}
			},
		},
		{
			name: "second queue chosen by name, deadline capped at its worker timeout, its audience kept",
			args: []string{"--outputs", twoQueues, "--queue", "short-queue"},
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				if !strings.HasPrefix(task.GetName(), "projects/my-project/locations/asia-northeast1/queues/short-queue/tasks/") {
					t.Errorf("name = %q", task.GetName())
				}
				if got := task.GetDispatchDeadline().AsDuration(); got != 10*time.Minute {
					t.Errorf("dispatch deadline = %v, want the worker's 10m", got)
				}
				if got := task.GetHttpRequest().GetOidcToken().GetAudience(); got != "https://short.example.com" {
					t.Errorf("audience = %q", got)
				}
			},
		},
		{
			name: "explicit flags without outputs; audience defaults to the URL",
			args: []string{
				"--queue-path", "projects/p1/locations/europe-west1/queues/q-1",
				"--url", "https://w.example.com/", "--service-account", "inv@p1.iam.gserviceaccount.com",
				"--path", "/x", "--dispatch-deadline", "15s",
			},
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				hr := task.GetHttpRequest()
				if hr.GetUrl() != "https://w.example.com/x" {
					t.Errorf("url = %q", hr.GetUrl())
				}
				if hr.GetOidcToken().GetAudience() != "https://w.example.com/" {
					t.Errorf("audience = %q", hr.GetOidcToken().GetAudience())
				}
				if hr.GetOidcToken().GetServiceAccountEmail() != "inv@p1.iam.gserviceaccount.com" {
					t.Errorf("service account = %q", hr.GetOidcToken().GetServiceAccountEmail())
				}
				if task.GetDispatchDeadline().AsDuration() != 15*time.Second {
					t.Errorf("deadline = %v", task.GetDispatchDeadline().AsDuration())
				}
			},
		},
		{
			name: "flags override outputs",
			args: []string{"--outputs", "testdata/outputs.json", "--audience", "https://aud.example.com",
				"--service-account", "other@my-project.iam.gserviceaccount.com"},
			check: func(t *testing.T, task *cloudtaskspb.Task) {
				oidc := task.GetHttpRequest().GetOidcToken()
				if oidc.GetAudience() != "https://aud.example.com" || oidc.GetServiceAccountEmail() != "other@my-project.iam.gserviceaccount.com" {
					t.Errorf("oidc = %v", oidc)
				}
				if task.GetHttpRequest().GetUrl() != workerURL {
					t.Errorf("url = %q, want the outputs' %q", task.GetHttpRequest().GetUrl(), workerURL)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTasks{}
			addr := startFake(t, fake)
			res := runCmd(t, append(tt.args, "--endpoint", addr), tt.stdin)
			if res.err != nil {
				t.Fatalf("run: %v\nstderr: %s", res.err, res.stderr)
			}
			reqs := fake.requests()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			if res.stdout != reqs[0].GetTask().GetName()+"\n" {
				t.Errorf("stdout = %q, want the task name", res.stdout)
			}
			tt.check(t, reqs[0].GetTask())
		})
	}
}

func TestEnqueueRetries(t *testing.T) {
	tests := []struct {
		name      string
		script    []codes.Code
		args      []string
		wantCalls int
		wantErr   string // empty: success
	}{
		{name: "unavailable twice then success", script: []codes.Code{codes.Unavailable, codes.Unavailable}, wantCalls: 3},
		{name: "deadline exceeded is transient", script: []codes.Code{codes.DeadlineExceeded}, wantCalls: 2},
		{name: "resource exhausted is transient", script: []codes.Code{codes.ResourceExhausted}, wantCalls: 2},
		{name: "internal is transient", script: []codes.Code{codes.Internal}, wantCalls: 2},
		{name: "invalid argument is permanent", script: []codes.Code{codes.InvalidArgument}, wantCalls: 1, wantErr: "InvalidArgument"},
		{name: "permission denied is permanent", script: []codes.Code{codes.PermissionDenied}, wantCalls: 1, wantErr: "PermissionDenied"},
		{name: "already exists after a lost response is our own task", script: []codes.Code{codes.Unavailable, codes.AlreadyExists}, wantCalls: 2},
		{
			name: "already exists for an explicit name is a duplicate", script: []codes.Code{codes.AlreadyExists},
			args: []string{"--task-name", "order-42"}, wantCalls: 1, wantErr: "deduplicated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTasks{script: tt.script}
			addr := startFake(t, fake)
			args := append([]string{"--outputs", "testdata/outputs.json", "--endpoint", addr}, fastRetry...)
			res := runCmd(t, append(args, tt.args...), "")
			reqs := fake.requests()
			if len(reqs) != tt.wantCalls {
				t.Errorf("server saw %d calls, want %d", len(reqs), tt.wantCalls)
			}
			for i := 1; i < len(reqs); i++ {
				if reqs[i].GetTask().GetName() != reqs[0].GetTask().GetName() {
					t.Errorf("attempt %d used name %q, attempt 1 %q: retries must reuse the name", i+1, reqs[i].GetTask().GetName(), reqs[0].GetTask().GetName())
				}
			}
			if tt.wantErr == "" {
				if res.err != nil {
					t.Fatalf("run: %v", res.err)
				}
				if len(reqs) > 0 && res.stdout != reqs[0].GetTask().GetName()+"\n" {
					t.Errorf("stdout = %q", res.stdout)
				}
				return
			}
			if res.err == nil || !strings.Contains(res.err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", res.err, tt.wantErr)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing on failure", res.stdout)
			}
		})
	}
}

func TestEnqueueDeadlineStopsRetries(t *testing.T) {
	fake := &fakeTasks{always: codes.Unavailable}
	addr := startFake(t, fake)
	start := time.Now()
	res := runCmd(t, []string{
		"--outputs", "testdata/outputs.json", "--endpoint", addr,
		"--retry-initial", "40ms", "--retry-max", "40ms", "--timeout", "300ms",
	}, "")
	elapsed := time.Since(start)
	if res.err == nil || !strings.Contains(res.err.Error(), "gave up after the --timeout of 300ms") {
		t.Fatalf("err = %v, want the deadline to stop the retries", res.err)
	}
	if !strings.Contains(res.err.Error(), "Unavailable") {
		t.Errorf("err = %v, want the last error in it", res.err)
	}
	calls := len(fake.requests())
	if calls < 2 || calls > 10 {
		t.Errorf("server saw %d calls, want a few retries (2..10) within 300ms at 40ms pauses", calls)
	}
	if elapsed > 3*time.Second {
		t.Errorf("took %v; the 300ms deadline did not stop the retries", elapsed)
	}
}

func TestEnqueueRefusesBadInput(t *testing.T) {
	long := strings.Repeat("a", 501)
	tests := []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{name: "deadline below 15s", args: []string{"--outputs", "testdata/outputs.json", "--dispatch-deadline", "10s"},
			want: []string{"--dispatch-deadline=10s", "between 15s and 30m0s"}},
		{name: "deadline above 30m", args: []string{"--outputs", "testdata/outputs.json", "--dispatch-deadline", "31m"},
			want: []string{"--dispatch-deadline=31m0s", "between 15s and 30m0s"}},
		{name: "deadline over the worker timeout",
			args: []string{"--outputs", "testdata/outputs-two-queues.json", "--queue", "short-queue", "--dispatch-deadline", "20m"},
			want: []string{"--dispatch-deadline=20m0s", "worker's request timeout 10m0s"}},
		{name: "task name with a slash", args: []string{"--outputs", "testdata/outputs.json", "--task-name", "a/b"},
			want: []string{"--task-name", `"a/b"`, "task ID only"}},
		{name: "task name with a space", args: []string{"--outputs", "testdata/outputs.json", "--task-name", "has space"},
			want: []string{"--task-name", `"has space"`, "letters, digits, hyphens or underscores"}},
		{name: "task name too long", args: []string{"--outputs", "testdata/outputs.json", "--task-name", long}, want: []string{"--task-name", "1 to 500"}},
		{name: "task name and prefix", args: []string{"--outputs", "testdata/outputs.json", "--task-name", "x", "--name-prefix", "y-"},
			want: []string{"--task-name", "--name-prefix", "only one"}},
		{name: "bad prefix", args: []string{"--outputs", "testdata/outputs.json", "--name-prefix", "job."}, want: []string{"--name-prefix", `"job."`}},
		{name: "missing queue", args: []string{"--body", "{}"}, want: []string{"no queue", "--outputs", "--queue-path"}},
		{name: "unknown queue name", args: []string{"--outputs", "testdata/outputs.json", "--queue", "nope"}, want: []string{`--queue="nope"`, "sample-queue"}},
		{name: "queue needed when several", args: []string{"--outputs", "testdata/outputs-two-queues.json"},
			want: []string{"--queue is required", "sample-queue, short-queue"}},
		{name: "queue without outputs", args: []string{"--queue", "sample-queue"}, want: []string{`--queue="sample-queue"`, "--outputs"}},
		{name: "malformed outputs JSON", args: []string{"--outputs", "testdata/malformed.json"}, want: []string{"testdata/malformed.json", "not the JSON object"}},
		{name: "outputs file missing", args: []string{"--outputs", "testdata/nope.json"}, want: []string{`--outputs="testdata/nope.json"`, "no such file"}},
		{name: "body file missing", args: []string{"--outputs", "testdata/outputs.json", "--body-file", "testdata/missing-body.json"},
			want: []string{`--body-file="testdata/missing-body.json"`, "no such file"}},
		{name: "body and body file", args: []string{"--outputs", "testdata/outputs.json", "--body", "{}", "--body-file", "testdata/body.json"},
			want: []string{"--body and --body-file", "only one"}},
		{name: "body not JSON", args: []string{"--outputs", "testdata/outputs.json", "--body", "{oops"}, want: []string{"not valid JSON", "--content-type"}},
		{name: "reserved header", args: []string{"--outputs", "testdata/outputs.json", "--header", "Authorization=Bearer x"},
			want: []string{"--header", "Authorization", "OIDC token"}},
		{name: "google header", args: []string{"--outputs", "testdata/outputs.json", "--header", "X-Google-Foo=1"},
			want: []string{"--header", "reserved for Google"}},
		{name: "header without value separator", args: []string{"--outputs", "testdata/outputs.json", "--header", "X-Trace"},
			want: []string{"-header", "want key=value"}},
		{name: "duplicate header", args: []string{"--outputs", "testdata/outputs.json", "--header", "X-A=1", "--header", "x-a=2"}, want: []string{"given twice"}},
		{name: "http URL", args: []string{"--outputs", "testdata/outputs.json", "--url", "http://worker.example.com"},
			want: []string{`--url="http://worker.example.com"`, "https"}},
		{name: "bad service account", args: []string{"--outputs", "testdata/outputs.json", "--service-account", "someone@gmail.com"},
			want: []string{"--service-account", "someone@gmail.com"}},
		{name: "bad queue path", args: []string{"--queue-path", "projects/p/queues/q", "--url", workerURL, "--service-account", invoker},
			want: []string{"--queue-path", "projects/PROJECT/locations/LOCATION/queues/QUEUE"}},
		{name: "path without slash", args: []string{"--outputs", "testdata/outputs.json", "--path", "jobs"}, want: []string{`--path="jobs"`, "must start with /"}},
		{name: "negative delay", args: []string{"--outputs", "testdata/outputs.json", "--delay", "-1s"}, want: []string{"--delay=-1s", "between 0s"}},
		{name: "delay beyond 30 days", args: []string{"--outputs", "testdata/outputs.json", "--delay", "721h"}, want: []string{"--delay=721h0m0s"}},
		{name: "retry multiplier below 1", args: []string{"--outputs", "testdata/outputs.json", "--retry-multiplier", "0.5"},
			want: []string{"--retry-multiplier=0.5", "at least 1"}},
		{name: "outputs and stack", args: []string{"--outputs", "testdata/outputs.json", "--stack", "dev"}, want: []string{"--outputs", "--stack", "only one"}},
		{name: "positional argument", args: []string{"--outputs", "testdata/outputs.json", "extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "unknown flag", args: []string{"--nope"}, want: []string{"flag provided but not defined: -nope"}},
		{name: "several errors at once", args: []string{"--outputs", "testdata/outputs.json", "--dispatch-deadline", "1s", "--task-name", "a b"},
			want: []string{"--dispatch-deadline=1s", "--task-name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTasks{}
			addr := startFake(t, fake)
			res := runCmd(t, append(tt.args, "--endpoint", addr), "")
			if res.err == nil {
				t.Fatalf("run succeeded (stdout %q), want an error", res.stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", res.err, w)
				}
			}
			if n := len(fake.requests()); n != 0 {
				t.Errorf("server saw %d requests, want 0: input must be refused before dialing", n)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
		})
	}
}

func TestEnqueueEndpointMustBeLoopback(t *testing.T) {
	res := runCmd(t, []string{"--outputs", "testdata/outputs.json", "--endpoint", "cloudtasks.example.com:443"}, "")
	if res.err == nil || !strings.Contains(res.err.Error(), "loopback") {
		t.Fatalf("err = %v, want a loopback refusal", res.err)
	}
}

func TestEnqueueReadsStackOutputsThroughPulumi(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake pulumi is a shell script")
	}
	outputs, err := os.ReadFile("testdata/outputs.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	// It refuses a run that may fetch a plugin the state names.
	script := "#!/bin/sh\n[ \"$PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION\" = true ] || exit 4\n" +
		"printf '%s\\n' \"$@\" > '" + argsFile + "'\ncat <<'JSON'\n" + string(outputs) + "JSON\n"
	if err := os.WriteFile(filepath.Join(dir, "pulumi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	fake := &fakeTasks{}
	addr := startFake(t, fake)
	res := runCmd(t, []string{"--stack", "dev", "--endpoint", addr, "--body", "{}"}, "")
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	got, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatalf("fake pulumi was not run: %v", err)
	}
	if want := "stack\noutput\n--json\n--stack\ndev\n"; string(got) != want {
		t.Errorf("pulumi args = %q, want %q", got, want)
	}
	reqs := fake.requests()
	if len(reqs) != 1 || reqs[0].GetParent() != queuePath {
		t.Fatalf("requests = %v, want one to %s", reqs, queuePath)
	}
}

func TestEnqueueStackFailureIsReported(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake pulumi is a shell script")
	}
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'error: no stack named dev found' >&2\nexit 255\n"
	if err := os.WriteFile(filepath.Join(dir, "pulumi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	fake := &fakeTasks{}
	addr := startFake(t, fake)
	res := runCmd(t, []string{"--stack", "dev", "--endpoint", addr}, "")
	if res.err == nil || !strings.Contains(res.err.Error(), `--stack="dev"`) || !strings.Contains(res.err.Error(), "no stack named dev") {
		t.Fatalf("err = %v, want the stack and pulumi's message", res.err)
	}
	if n := len(fake.requests()); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestEnqueueHelpHidesTestHook(t *testing.T) {
	res := runCmd(t, []string{"--help"}, "")
	if code := cli.ExitCode(res.err); code != cli.ExitOK {
		t.Fatalf("--help: exit %d (%v), want 0", code, res.err)
	}
	if !strings.HasPrefix(res.stdout, "usage: enqueue ") || res.stderr != "" {
		t.Errorf("--help: want the usage on stdout and nothing on stderr; stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "--dispatch-deadline") {
		t.Errorf("usage lacks --dispatch-deadline:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "--endpoint") {
		t.Errorf("usage shows the hidden --endpoint:\n%s", res.stdout)
	}
}
