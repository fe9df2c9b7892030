package rehearsal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

// ungatedMain is main.go with the program's actAs gate left out.
const ungatedMain = `package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/stacks"
)

func main() {
	pulumi.Run(stacks.ProgramWith(nil))
}
`

// TestFirstUpNeedsTheActAsGate: the fake Google holds the deployer's fresh
// actAs grants back as real IAM does, so the program without its gate
// fails its first up where Google would: Cloud Run refuses the service,
// because the deployer's grant on the runtime account has not taken
// effect. (TestEveryStackFile shows the program as main.go runs it
// waiting for exactly those grants and coming up.) The stack is dev's
// worker alone.
func TestFirstUpNeedsTheActAsGate(t *testing.T) {
	t.Parallel()
	e := rehearsal.Start(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(e.Dir, "main.go"), []byte(ungatedMain), 0o644); err != nil {
		t.Fatal(err)
	}
	dev := config(t, e, "dev").Config
	var file strings.Builder
	file.WriteString("config:\n")
	for _, k := range []string{"gcp:project", "asyncjobs:region", "asyncjobs:deployers", "asyncjobs:worker"} {
		v := dev[k]
		if !strings.HasPrefix(v, "{") && !strings.HasPrefix(v, "[") {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			v = string(b)
		}
		fmt.Fprintf(&file, "  %s: %s\n", k, v) // JSON is YAML
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "Pulumi.worker.yaml"), []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Init(ctx, "worker")
	r := e.Up(ctx, "worker")
	if r.Err == nil {
		t.Fatal("the first up without the gate succeeded: the fake Google does not model IAM propagation")
	}
	const refusal = "Permission 'iam.serviceaccounts.actAs' denied on service account worker-run@asyncjobs-dev.iam.gserviceaccount.com"
	if !strings.Contains(r.Output, refusal) {
		t.Fatalf("the first up without the gate failed, but not with Cloud Run's refusal:\n%v", r.Err)
	}
}

// gateSaid finds the accounts the actAs gate said it waited for.
var gateSaid = regexp.MustCompile(`waiting until .+? may act as ([a-z0-9-]+)@`)

// gatedAccounts are the accounts a stack file's first up waits for: those
// its deployers are granted actAs on (the worker's runtime account, a push
// subscription's account, a created cluster's node account).
var gatedAccounts = map[string][]string{
	"dev":  {"worker-run"},
	"prod": {"asyncjobs-prod-nodes", "worker-push", "worker-run"},
}

// waitedFor checks that an up's output shows the gate waiting for exactly
// the stack's gated accounts.
func waitedFor(t *testing.T, stack string, r *rehearsal.Run) {
	t.Helper()
	want, ok := gatedAccounts[stack]
	if !ok {
		return
	}
	var got []string
	for _, m := range gateSaid.FindAllStringSubmatch(r.Output, -1) {
		if !slices.Contains(got, m[1]) {
			got = append(got, m[1])
		}
	}
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Errorf("the first up of %s waited for %v, want %v", stack, got, want)
	}
}
