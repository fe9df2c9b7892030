package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
	"google.golang.org/grpc/codes"
)

func TestEnqueueDelayAndAt(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want func(now time.Time) time.Time
	}{
		{name: "plain seconds", args: []string{"--delay", "10"}, want: func(now time.Time) time.Time { return now.Add(10 * time.Second) }},
		{name: "fractional seconds", args: []string{"--delay", "1.5"}, want: func(now time.Time) time.Time { return now.Add(1500 * time.Millisecond) }},
		{name: "duration", args: []string{"--delay", "10m"}, want: func(now time.Time) time.Time { return now.Add(10 * time.Minute) }},
		{name: "absolute time", args: []string{"--at", "2099-01-02T15:04:05+09:00"}, want: func(time.Time) time.Time {
			return time.Date(2099, 1, 2, 6, 4, 5, 0, time.UTC)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.args[1], "2099") {
				// Thirty days at most: build an --at inside the window.
				at := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
				tt.args = []string{"--at", at.Format(time.RFC3339)}
				tt.want = func(time.Time) time.Time { return at }
			}
			fake := &fakeTasks{}
			addr := startFake(t, fake)
			now := time.Now()
			res := runCmd(t, append([]string{"--outputs", "testdata/outputs.json", "--endpoint", addr}, tt.args...), "")
			if res.err != nil {
				t.Fatalf("run: %v", res.err)
			}
			reqs := fake.requests()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests", len(reqs))
			}
			got := reqs[0].GetTask().GetScheduleTime().AsTime()
			if d := got.Sub(tt.want(now)); d < -time.Second || d > 2*time.Second {
				t.Errorf("schedule time %v, want about %v", got, tt.want(now))
			}
		})
	}
}

func TestEnqueueBadScheduleIsOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--delay", "10x"}, []string{"--delay 10", "90s"}},
		{[]string{"--delay", "soon"}, []string{"want seconds or a duration"}},
		{[]string{"--at", "tomorrow"}, []string{`--at="tomorrow"`, "RFC 3339", "--at 2030-01-02T15:04:05Z"}},
		{[]string{"--at", "2001-01-01T00:00:00Z"}, []string{"in the past"}},
		{[]string{"--at", "2099-01-01T00:00:00Z"}, []string{"30 days"}},
		{[]string{"--delay", "5", "--at", "2099-01-01T00:00:00Z"}, []string{"give only one"}},
	}
	for _, tt := range tests {
		fake := &fakeTasks{}
		addr := startFake(t, fake)
		res := runCmd(t, append([]string{"--outputs", "testdata/outputs.json", "--endpoint", addr}, tt.args...), "")
		if res.err == nil {
			t.Errorf("%q: accepted", tt.args)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(res.err.Error(), w) {
				t.Errorf("%q: err %q lacks %q", tt.args, res.err, w)
			}
		}
		if strings.Contains(res.err.Error(), "\n") || res.stderr != "" {
			t.Errorf("%q: want a one-line error and no usage dump; err %q, stderr %d bytes", tt.args, res.err, len(res.stderr))
		}
		if code := cli.ExitCode(res.err); code != opstool.ExitUsage {
			t.Errorf("%q: exit status %d, want %d", tt.args, code, opstool.ExitUsage)
		}
		if n := len(fake.requests()); n != 0 {
			t.Errorf("%q: %d requests made", tt.args, n)
		}
	}
}

func TestEnqueueEmulatorHostEnvironment(t *testing.T) {
	fake := &fakeTasks{}
	addr := startFake(t, fake)
	t.Setenv(EmulatorHostEnv, addr)
	res := runCmd(t, []string{"--outputs", "testdata/outputs.json", "--body", "{}"}, "")
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	if n := len(fake.requests()); n != 1 {
		t.Fatalf("the server named by %s saw %d requests, want 1", EmulatorHostEnv, n)
	}
	t.Setenv(EmulatorHostEnv, "cloudtasks.example.com:443")
	res = runCmd(t, []string{"--outputs", "testdata/outputs.json"}, "")
	if res.err == nil || !strings.Contains(res.err.Error(), EmulatorHostEnv) || !strings.Contains(res.err.Error(), "loopback") {
		t.Errorf("err = %v, want a loopback refusal naming %s", res.err, EmulatorHostEnv)
	}
	help := runCmd(t, []string{"--help"}, "")
	if !strings.Contains(help.stdout, EmulatorHostEnv) || !strings.Contains(help.stdout, "--at") || !strings.Contains(help.stdout, "Exit status") {
		t.Errorf("--help lacks %s, --at or the exit status:\n%s", EmulatorHostEnv, help.stdout)
	}
}

func TestEnqueueExitCodes(t *testing.T) {
	fake := &fakeTasks{always: codes.PermissionDenied}
	addr := startFake(t, fake)
	res := runCmd(t, []string{"--outputs", "testdata/outputs.json", "--endpoint", addr}, "")
	if code := cli.ExitCode(res.err); code != opstool.ExitFailed {
		t.Errorf("permission denied: exit status %d, want %d", code, opstool.ExitFailed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unavailable := &fakeTasks{always: codes.Unavailable}
	addr = startFake(t, unavailable)
	var out, errOut strings.Builder
	err := run(ctx, []string{"--outputs", "testdata/outputs.json", "--endpoint", addr}, nil, &out, &errOut)
	if code := cli.ExitCode(err); code != opstool.ExitInterrupted {
		t.Errorf("interrupted: exit status %d, want %d (err %v)", code, opstool.ExitInterrupted, err)
	}
	if code := cli.ExitCode(runCmd(t, []string{"--nope"}, "").err); code != opstool.ExitUsage {
		t.Errorf("unknown flag: exit status %d, want %d", code, opstool.ExitUsage)
	}
}
