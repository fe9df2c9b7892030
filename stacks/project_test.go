package stacks_test

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/asyncjobs/asyncjobs/stacks"
)

// TestProjectDeclaresEveryKey keeps Pulumi.yaml's config schema in step with
// the Go configuration: every key declared with a type and description, and
// scalar defaults equal to the ones Go declares.
func TestProjectDeclaresEveryKey(t *testing.T) {
	project, err := workspace.LoadProject(filepath.Join(projectDir, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if project.Name != "asyncjobs" || project.Runtime.Name() != "go" {
		t.Errorf("project %s runtime %s, want asyncjobs on go", project.Name, project.Runtime.Name())
	}
	defaults := reflect.ValueOf(stacks.Defaults())
	known := map[string]bool{}
	for _, f := range stacks.Keys() {
		key := stacks.Namespace + ":" + f.Name
		known[key] = true
		decl, ok := project.Config[key]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %s", key)
			continue
		}
		if decl.Type == nil || decl.Description == "" {
			t.Errorf("%s: declared without a type or description", key)
		}
		if f.Doc == "" {
			t.Errorf("%s: Go field has no doc tag", key)
		}
		goDefault := defaults.FieldByIndex(f.Field.Index).Interface()
		switch f.Field.Type.Kind() {
		case reflect.String, reflect.Bool:
			if f.Name == "region" {
				if decl.Default != nil {
					t.Errorf("%s is required and must have no default", key)
				}
				continue
			}
			if !reflect.DeepEqual(decl.Default, goDefault) {
				t.Errorf("%s: Pulumi.yaml default %#v, Go default %#v", key, decl.Default, goDefault)
			}
		default:
			// Pulumi makes a typed key without a default required. Optional
			// objects and lists default to empty there; their contents'
			// defaults live in Go.
			if f.Name == "worker" {
				if decl.Default != nil {
					t.Errorf("%s is required and must have no default", key)
				}
				continue
			}
			goEmpty := reflect.ValueOf(goDefault).Kind() == reflect.Struct || reflect.ValueOf(goDefault).Len() == 0
			if v := reflect.ValueOf(decl.Default); decl.Default == nil || v.Len() != 0 || !goEmpty {
				t.Errorf("%s: Pulumi.yaml default %#v, Go default %#v; both must be empty", key, decl.Default, goDefault)
			}
		}
	}
	for key := range project.Config {
		if strings.HasPrefix(key, stacks.Namespace+":") && !known[key] {
			t.Errorf("Pulumi.yaml declares %s, which the program does not read", key)
		}
	}
	disabled, _ := project.Config["pulumi:disable-default-providers"].Value.([]any)
	if len(disabled) == 0 || disabled[0] != "kubernetes" {
		t.Errorf("the default Kubernetes provider is not disabled: %#v", project.Config["pulumi:disable-default-providers"].Value)
	}
}

// TestProgramDependencies keeps test and tool libraries out of the program,
// which is compiled on every pulumi preview.
func TestProgramDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "..").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("only %d dependencies listed", len(deps))
	}
	forbidden := []string{
		"testing", "github.com/stretchr/testify", "cloud.google.com/go/pubsub", "cloud.google.com/go/cloudtasks",
		"github.com/open-policy-agent/opa", "github.com/zegl/kube-score", "github.com/rhysd/actionlint",
		"k8s.io/client-go", "github.com/pulumi/pulumi/sdk/v3/go/auto", "github.com/yuin/goldmark",
		"github.com/asyncjobs/asyncjobs/cmd/",
	}
	// Of this module's internal packages, the program links the program
	// libraries' group only (see the README's Layout).
	const internal, program = "github.com/asyncjobs/asyncjobs/internal/", "github.com/asyncjobs/asyncjobs/internal/program/"
	// The kubeconfig is built from client-go's kubeconfig types and codec
	// (components/gke); the rest of client-go stays out.
	allowed := []string{"k8s.io/client-go/tools/clientcmd/api", "k8s.io/client-go/tools/clientcmd/api/latest", "k8s.io/client-go/tools/clientcmd/api/v1"}
	for _, d := range deps {
		if slices.Contains(allowed, d) {
			continue
		}
		if strings.HasPrefix(d, internal) && !strings.HasPrefix(d, program) {
			t.Errorf("the Pulumi program depends on %s, outside internal/program", d)
		}
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
				t.Errorf("the Pulumi program depends on %s", d)
			}
		}
	}
}
