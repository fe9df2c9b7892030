package stackoutputs

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	fixture, err := os.ReadFile("testdata/outputs.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    string
		wantErr string
		check   func(t *testing.T, o *Outputs)
	}{
		{
			name: "the stack's outputs",
			data: string(fixture),
			check: func(t *testing.T, o *Outputs) {
				q := o.Queues["sample-queue"]
				if o.Project != "my-project" || q.QueuePath != "projects/my-project/locations/asia-northeast1/queues/sample-queue" ||
					q.WorkerURL != "https://worker-abc-an.a.run.app" || q.Audience != "https://worker-abc-an.a.run.app" ||
					q.InvokerServiceAccount != "tasks-invoker@my-project.iam.gserviceaccount.com" ||
					q.EnqueuerServiceAccount != "tasks-enqueuer@my-project.iam.gserviceaccount.com" ||
					q.Location != "asia-northeast1" || q.WorkerTimeoutSeconds != 3600 {
					t.Errorf("queue = %+v", q)
				}
				dl := o.DeadLetters["jobs/jobs-worker"]
				if dl.Topic != "projects/my-project/topics/jobs" || dl.Subscription != "projects/my-project/subscriptions/jobs-worker" ||
					dl.DeadLetterTopic != "projects/my-project/topics/jobs-worker-dead-letter" ||
					dl.DeadLetterSubscription != "projects/my-project/subscriptions/jobs-worker-dead-letter" {
					t.Errorf("dead letters = %+v", dl)
				}
			},
		},
		{
			name: "other outputs are ignored",
			data: `{"project":"p","clusterName":"c","queues":{}}`,
			check: func(t *testing.T, o *Outputs) {
				if o.Project != "p" || len(o.Queues) != 0 {
					t.Errorf("outputs = %+v", o)
				}
			},
		},
		{name: "truncated", data: `{"project": "p", "queues": {`, wantErr: "not the JSON object"},
		{name: "not an object", data: `["a"]`, wantErr: "not the JSON object"},
		{name: "wrong type", data: `{"queues": {"q": {"workerTimeoutSeconds": "3600"}}}`, wantErr: "not the JSON object"},
		{name: "trailing data", data: `{"project": "p"} {"project": "q"}`, wantErr: "unexpected data after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse("test.json", []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "test.json") {
					t.Fatalf("err = %v, want one naming test.json and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, o)
		})
	}
}

func TestOutputsSelection(t *testing.T) {
	two := &Outputs{
		Queues:      map[string]Queue{"b": {QueuePath: "qb"}, "a": {QueuePath: "qa"}},
		DeadLetters: map[string]DeadLetter{"t/s": {Topic: "T"}},
	}
	tests := []struct {
		name     string
		pick     func() (string, string, error)
		wantKey  string
		wantPath string
		wantErr  []string
	}{
		{name: "queue by name", pick: func() (string, string, error) { k, q, err := two.Queue("b"); return k, q.QueuePath, err }, wantKey: "b", wantPath: "qb"},
		{name: "several queues need a name", pick: func() (string, string, error) { k, q, err := two.Queue(""); return k, q.QueuePath, err },
			wantErr: []string{"--queue is required", "a, b"}},
		{name: "unknown queue", pick: func() (string, string, error) { k, q, err := two.Queue("c"); return k, q.QueuePath, err },
			wantErr: []string{`--queue="c"`, "have: a, b"}},
		{name: "only pair chosen", pick: func() (string, string, error) { k, d, err := two.DeadLetter(""); return k, d.Topic, err }, wantKey: "t/s", wantPath: "T"},
		{name: "no queues", pick: func() (string, string, error) { k, q, err := (&Outputs{}).Queue(""); return k, q.QueuePath, err },
			wantErr: []string{"no queues entries"}},
		{name: "no pairs, named", pick: func() (string, string, error) { k, d, err := (&Outputs{}).DeadLetter("x/y"); return k, d.Topic, err },
			wantErr: []string{`--pair="x/y"`, "no deadLetters entries"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, path, err := tt.pick()
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got %q, want an error", key)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %q, want %q in it", err, w)
					}
				}
				return
			}
			if err != nil || key != tt.wantKey || path != tt.wantPath {
				t.Errorf("got %q %q %v, want %q %q", key, path, err, tt.wantKey, tt.wantPath)
			}
		})
	}
}

// TestExact: outputs with a key the contract does not describe, or
// without one it describes, are refused; the contract's own shape passes.
func TestExact(t *testing.T) {
	full := `{"project":"p","region":"r","worker":{"url":"u","serviceName":"s","serviceAccount":"a"},` +
		`"queues":{},"topics":{},"deadLetters":{},"monitoring":{"dashboard":"d","alertPolicies":[],"notificationChannels":[]}}`
	if _, err := Exact([]byte(full)); err != nil {
		t.Errorf("the contract's shape refused: %v", err)
	}
	extra := strings.Replace(full, `"region":"r"`, `"region":"r","extra":1`, 1)
	if _, err := Exact([]byte(extra)); err == nil || !strings.Contains(err.Error(), "does not describe") {
		t.Errorf("an undescribed key: %v", err)
	}
	missing := strings.Replace(full, `"region":"r",`, ``, 1)
	if _, err := Exact([]byte(missing)); err == nil || !strings.Contains(err.Error(), "does not export") {
		t.Errorf("a described key missing: %v", err)
	}
}
