package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/plan/plantest"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
)

const metricType = "gcp:logging/metric:Metric"

// exampleConfig is the example stack's validated configuration.
func exampleConfig(t *testing.T) Config {
	t.Helper()
	st, err := stackfile.Load(".", "example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(st.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// recordConfig records Build on a configuration as given (no validation),
// as a deployment would see it.
func recordConfig(t *testing.T, cfg Config) *recorder.Plan {
	t.Helper()
	plan, err := recorder.Run(func(ctx *pulumi.Context) error { return Build(ctx, cfg) },
		recorder.Options{Project: Namespace, Stack: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// metricsByProject indexes the plan's log-based metrics by project.
func metricsByProject(t *testing.T, plan *recorder.Plan) map[string]*recorder.Resource {
	t.Helper()
	out := map[string]*recorder.Resource{}
	for _, m := range plan.ByType(metricType) {
		p := str(t, m, "project")
		if out[p] != nil {
			t.Errorf("two log-based metrics in project %s: %s and %s", p, out[p].Name, m.Name)
		}
		out[p] = m
	}
	return out
}

// TestCompletionsMetrics: the bootstrap creates the counter the stacks'
// overdue alerts read, as components/monitoring defines it, once in every
// project that holds an environment's cluster, protected, after the
// Logging API is enabled there; never in the host project.
func TestCompletionsMetrics(t *testing.T) {
	plan := recordExample(t)
	got := metricsByProject(t, plan)
	if want := []string{"asyncjobs-dev", "asyncjobs-prod"}; !slices.Equal(keys(boolKeys(got)), want) {
		t.Fatalf("completions metrics in %v, want %v", keys(boolKeys(got)), want)
	}
	for project, m := range got {
		def := monitoring.CompletionsMetric(project)
		plantest.Inputs(t, m, map[string]any{
			"name":                        monitoring.MetricCronJobCompleted,
			"description":                 def.Description,
			"filter":                      def.Filter,
			"metricDescriptor.metricKind": "DELTA",
			"metricDescriptor.valueType":  "INT64",
		})
		extractors, _ := m.Input("labelExtractors")
		want := map[string]any{}
		for k, v := range def.Extractors {
			want[k] = v
		}
		if !reflect.DeepEqual(extractors, want) {
			t.Errorf("%s: label extractors %v, want %v", m.Name, extractors, want)
		}
		if !m.Protect {
			t.Errorf("%s is not protected", m.Name)
		}
		api := plantest.Find(t, plan, "gcp:projects/service:Service", "api-logging-"+project)
		plantest.Inputs(t, api, map[string]any{"project": project, "service": "logging.googleapis.com", "disableOnDestroy": false})
		if !slices.Contains(m.Dependencies, api.URN) {
			t.Errorf("%s does not wait for the Logging API of %s: %v", m.Name, project, m.Dependencies)
		}
	}
	if got[host] != nil {
		t.Errorf("a metric in the host project %s", host)
	}

	// Two environments whose clusters share a project get one metric
	// there; protect: false leaves it unprotected like the rest.
	cfg := exampleConfig(t)
	cfg.Environments["qa"] = Environment{Project: "asyncjobs-qa", ClusterProject: "asyncjobs-dev", Unprotected: true}
	cfg.Protect = false
	shared := metricsByProject(t, recordConfig(t, cfg))
	if want := []string{"asyncjobs-dev", "asyncjobs-prod"}; !slices.Equal(keys(boolKeys(shared)), want) {
		t.Errorf("with qa's cluster in asyncjobs-dev: metrics in %v, want %v", keys(boolKeys(shared)), want)
	}
	for _, m := range shared {
		if m.Protect {
			t.Errorf("%s is protected with protect: false", m.Name)
		}
	}
}

func boolKeys(m map[string]*recorder.Resource) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func TestClusterProjectValidation(t *testing.T) {
	base := exampleConfig(t)
	for _, tc := range []struct {
		name, clusterProject, want string
	}{
		{"not a project id", "X", "environments[dev].clusterProject: Invalid value: \"X\": a Google Cloud project id"},
		{"the host project", host, "environments[dev].clusterProject: Invalid value: \"asyncjobs-ci\": is the host project"},
		{"another environment's project", "asyncjobs-prod", "environments[dev].clusterProject: Invalid value: \"asyncjobs-prod\": is environment prod's project"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.Environments = map[string]Environment{}
			for k, v := range base.Environments {
				cfg.Environments[k] = v
			}
			dev := cfg.Environments["dev"]
			dev.ClusterProject = tc.clusterProject
			cfg.Environments["dev"] = dev
			errs := cfg.Validate()
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if len(errs) != 1 || !strings.Contains(msgs[0], tc.want) {
				t.Errorf("errors %q, want one with %q", msgs, tc.want)
			}
		})
	}
	// Its own project, or a project no environment deploys to, is fine.
	for _, p := range []string{"asyncjobs-dev", "asyncjobs-shared"} {
		cfg := base
		cfg.Environments = map[string]Environment{"dev": {Project: "asyncjobs-dev", ClusterProject: p, Unprotected: true}, "prod": base.Environments["prod"]}
		if errs := cfg.Validate(); len(errs) != 0 {
			t.Errorf("clusterProject %s refused: %v", p, errs)
		}
	}
}
