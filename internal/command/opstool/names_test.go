package opstool

import (
	"strings"
	"testing"
)

func TestNameChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) error
		in    string
		ok    bool
	}{
		{name: "queue path", check: CheckQueuePath, in: "projects/my-project/locations/asia-northeast1/queues/sample-queue", ok: true},
		{name: "queue path without location", check: CheckQueuePath, in: "projects/p/queues/q"},
		{name: "queue ID with underscore", check: CheckQueuePath, in: "projects/p/locations/l/queues/a_b"},
		{name: "queue ID of 101 characters", check: CheckQueuePath, in: "projects/p/locations/l/queues/" + strings.Repeat("q", 101)},
		{name: "task ID", check: CheckTaskID, in: "task-1a2b3c4d_X", ok: true},
		{name: "task ID of 500 characters", check: CheckTaskID, in: strings.Repeat("t", 500), ok: true},
		{name: "task ID of 501 characters", check: CheckTaskID, in: strings.Repeat("t", 501)},
		{name: "task ID with a dot", check: CheckTaskID, in: "a.b"},
		{name: "empty task ID", check: CheckTaskID, in: ""},
		{name: "topic", check: CheckTopicPath, in: "projects/my-project/topics/jobs", ok: true},
		{name: "topic with allowed symbols", check: CheckTopicPath, in: "projects/p/topics/a-b_c.d~e+f%g", ok: true},
		{name: "topic ID too short", check: CheckTopicPath, in: "projects/p/topics/ab"},
		{name: "topic ID starting with goog", check: CheckTopicPath, in: "projects/p/topics/google-x"},
		{name: "topic ID starting with a digit", check: CheckTopicPath, in: "projects/p/topics/1abc"},
		{name: "subscription given as topic", check: CheckTopicPath, in: "projects/p/subscriptions/abc"},
		{name: "subscription", check: CheckSubscriptionPath, in: "projects/my-project/subscriptions/jobs-worker-dead-letter", ok: true},
		{name: "bare subscription ID", check: CheckSubscriptionPath, in: "jobs-worker"},
		{name: "service account", check: CheckServiceAccount, in: "tasks-invoker@my-project.iam.gserviceaccount.com", ok: true},
		{name: "default compute service account", check: CheckServiceAccount, in: "123-compute@developer.gserviceaccount.com", ok: true},
		{name: "user account", check: CheckServiceAccount, in: "someone@gmail.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.in)
			if tt.ok && err != nil {
				t.Errorf("%q refused: %v", tt.in, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("%q accepted, want an error", tt.in)
			}
			if err != nil && tt.in != "" && !strings.Contains(err.Error(), firstLine(tt.in)) {
				t.Errorf("error %q does not name the value", err)
			}
		})
	}
}

func firstLine(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func TestProjectOfAndLastSegment(t *testing.T) {
	tests := []struct {
		in, project, last string
	}{
		{in: "projects/my-project/subscriptions/s", project: "my-project", last: "s"},
		{in: "projects/p/locations/l/queues/q", project: "p", last: "q"},
		{in: "jobs", project: "", last: "jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ProjectOf(tt.in); got != tt.project {
				t.Errorf("ProjectOf = %q, want %q", got, tt.project)
			}
			if got := LastSegment(tt.in); got != tt.last {
				t.Errorf("LastSegment = %q, want %q", got, tt.last)
			}
		})
	}
}
