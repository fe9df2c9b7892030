package stackoutputs_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/command/stackoutputs"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// TestReadsWhatTheStackExports feeds the outputs the real program exports
// for the dev stack (recorded in deployment simulation) to the parser the
// operator tools use, so the two sides of the contract cannot drift apart.
func TestReadsWhatTheStackExports(t *testing.T) {
	st, err := stackfile.Load("../../..", "dev")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := recorder.Run(stacks.Program, recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(plan.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := stackoutputs.Parse("stack dev", data)
	if err != nil {
		t.Fatalf("the operator tools cannot read the stack's outputs: %v", err)
	}
	name, q, err := outs.Queue("")
	if err != nil {
		t.Fatal(err)
	}
	if name != "sample-queue" || q.QueuePath != "projects/asyncjobs-dev/locations/asia-northeast1/queues/sample-queue" ||
		q.WorkerURL == "" || q.Audience != q.WorkerURL || q.InvokerServiceAccount != "sample-queue-invoker@asyncjobs-dev.iam.gserviceaccount.com" ||
		q.WorkerTimeoutSeconds != 3600 {
		t.Errorf("queue %s read as %+v", name, q)
	}
	pair, dl, err := outs.DeadLetter("")
	if err != nil {
		t.Fatal(err)
	}
	if pair != "jobs/jobs-worker" || dl.Topic != "projects/asyncjobs-dev/topics/jobs" ||
		dl.DeadLetterSubscription != "projects/asyncjobs-dev/subscriptions/jobs-worker-dead-letter" {
		t.Errorf("dead letters %s read as %+v", pair, dl)
	}
}

// TestEveryStackFileExportsTheContract: for every stack file, what the
// program exports (in deployment simulation, so every value is known) is
// exactly what package stackoutputs describes: no key exported that it does
// not describe (a strict decode), and no key described that is not exported
// (the decoded outputs, encoded again, equal what was exported).
func TestEveryStackFileExportsTheContract(t *testing.T) {
	files, err := filepath.Glob("../../../Pulumi.*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files: %v", err)
	}
	for _, f := range files {
		stack := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml")
		t.Run(stack, func(t *testing.T) {
			st, err := stackfile.Load("../../..", stack)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := recorder.Run(stacks.Program, recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config})
			if err != nil {
				t.Fatal(err)
			}
			exported, err := json.Marshal(plan.Outputs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stackoutputs.Exact(exported); err != nil {
				t.Error(err)
			}
		})
	}
}
