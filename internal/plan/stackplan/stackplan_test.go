package stackplan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/stacks"
)

// TestRecordHandsBackWhatTheProgramRanWith: for every stack file, the
// Config Record returns is the one the program used: the physical names
// and locations the recorded resources carry are its resolved values.
func TestRecordHandsBackWhatTheProgramRanWith(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			plan, cfg, err := Record("../../..", stack)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Stack != stack || cfg.Worker.Names.Service == "" {
				t.Fatalf("Config not resolved: stack %q, worker names %+v", cfg.Stack, cfg.Worker.Names)
			}
			found := 0
			for _, r := range plan.Resources {
				switch r.Type {
				case "gcp:cloudrunv2/service:Service":
					found++
					if r.Inputs["name"] != cfg.Worker.Names.Service || r.Inputs["location"] != cfg.Worker.Names.Region {
						t.Errorf("service recorded as %v in %v, Config says %+v", r.Inputs["name"], r.Inputs["location"], cfg.Worker.Names)
					}
				case "gcp:cloudtasks/queue:Queue":
					found++
					q := cfg.Queues[0].Names
					if r.Inputs["name"] != q.Queue || r.Inputs["location"] != q.Location {
						t.Errorf("queue recorded as %v in %v, Config says %+v", r.Inputs["name"], r.Inputs["location"], q)
					}
				}
			}
			if found != 2 {
				t.Fatalf("found %d of the worker and the queue in the plan", found)
			}
		})
	}
}

// TestRecordRefusesWithOneList: a stack file the program refuses gives
// one *stacks.ConfigError with the key path, and no plan.
func TestRecordRefusesWithOneList(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "Pulumi.dev.yaml" {
			b = []byte(strings.Replace(string(b), "  asyncjobs:worker:\n", "  asyncjobs:worker:\n    replicas: 3\n", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plan, _, err := Record(dir, "dev")
	var cfgErr *stacks.ConfigError
	if !errors.As(err, &cfgErr) || plan != nil {
		t.Fatalf("got plan %v and %v, want no plan and a ConfigError", plan != nil, err)
	}
	if len(cfgErr.Errs) == 0 || cfgErr.Errs[0].Field != "asyncjobs:worker.replicas" {
		t.Errorf("errors %v, want one at asyncjobs:worker.replicas", cfgErr.Errs)
	}
}
