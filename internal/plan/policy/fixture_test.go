package policy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

const (
	projectDir   = "../../.."
	rulesDir     = "../../../policy"
	manifestsDir = "../../../policy/testdata/manifests"
	// k8sProvider is the explicit provider of the fixture's Kubernetes
	// objects, as the recorder writes a provider reference (URN::id).
	k8sProvider = "urn:pulumi:prod::asyncjobs::pulumi:providers:kubernetes::gke::" + recorder.Computed
)

// loadRules compiles the repository's rules once for the whole test
// binary. An Engine does not change after Load and its prepared query is
// safe for concurrent use, so every test, parallel ones included,
// evaluates against the same compiled rules.
var loadRules = sync.OnceValues(func() (*policy.Engine, error) { return policy.Load(rulesDir) })

// engine is the engine of the repository's rules (see loadRules).
func engine(t testing.TB) *policy.Engine {
	t.Helper()
	e, err := loadRules()
	if err != nil {
		t.Fatalf("loading the rules: %v", err)
	}
	return e
}

// record records a stack file in preview mode, as make plan does, with
// changes to its configuration.
func record(t testing.TB, stack string, change map[string]string) *recorder.Plan {
	t.Helper()
	plan, err := recordStack(stack, change)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func recordStack(stack string, change map[string]string) (*recorder.Plan, error) {
	st, err := stackfile.Load(projectDir, stack)
	if err != nil {
		return nil, fmt.Errorf("loading stack %s: %w", stack, err)
	}
	cfg := map[string]string{}
	for k, v := range st.Config {
		cfg[k] = v
	}
	for k, v := range change {
		cfg[k] = v
	}
	plan, err := recorder.Run(stacks.Program, recorder.Options{
		Project: st.Project, Stack: st.Name, Config: cfg, SecretKeys: st.SecretKeys, Preview: true,
	})
	if err != nil {
		return nil, fmt.Errorf("recording stack %s: %w", stack, err)
	}
	return plan, nil
}

var (
	goodOnce sync.Once
	goodJSON []byte
	goodErr  error
)

// goodPlan is the fixture every rule case changes one thing in: the prod
// stack as recorded from Pulumi.prod.yaml, plus the hand-made Kubernetes
// objects of policy/testdata/manifests on an explicit provider, protected
// as in a production stack, in the shape the Kubernetes component records
// them. Each call returns a
// fresh copy.
func goodPlan(t testing.TB) *recorder.Plan {
	t.Helper()
	goodOnce.Do(func() {
		plan, err := recordStack("prod", nil)
		if err != nil {
			goodErr = err
			return
		}
		objects, err := manifestResources(manifestsDir, plan.Stack, plan.Project)
		if err != nil {
			goodErr = err
			return
		}
		plan.Resources = append(plan.Resources, objects...)
		goodJSON, goodErr = json.Marshal(plan)
	})
	if goodErr != nil {
		t.Fatalf("building the good fixture: %v", goodErr)
	}
	var p recorder.Plan
	if err := json.Unmarshal(goodJSON, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// manifestResources turns every manifest in dir into the resource the
// Pulumi Kubernetes provider records for it: type kubernetes:<group/version>:<Kind>,
// the object as inputs, an explicit provider. An HPA's spec depends on the
// Deployment it scales, as it does when the program passes the
// Deployment's name output.
func manifestResources(dir, stack, project string) ([]*recorder.Resource, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	provider := &recorder.Resource{
		URN:     "urn:pulumi:" + stack + "::" + project + "::pulumi:providers:kubernetes::gke",
		Type:    "pulumi:providers:kubernetes",
		Name:    "gke",
		Custom:  true,
		Protect: true, // a production stack protects everything
		Inputs:  map[string]any{"kubeconfig": recorder.Secret, "enableServerSideApply": "true"},
	}
	out := []*recorder.Resource{provider}
	byKind := map[string]*recorder.Resource{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, err
			}
			// Numbers as JSON has them, like a plan read from plan.json.
			raw, err := json.Marshal(doc)
			if err != nil {
				return nil, err
			}
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, err
			}
			apiVersion, _ := obj["apiVersion"].(string)
			kind, _ := obj["kind"].(string)
			if !strings.Contains(apiVersion, "/") {
				apiVersion = "core/" + apiVersion
			}
			typ := "kubernetes:" + apiVersion + ":" + kind
			name := strings.ToLower(kind) + "-" + obj["metadata"].(map[string]any)["name"].(string)
			r := &recorder.Resource{
				URN:                  "urn:pulumi:" + stack + "::" + project + "::" + typ + "::" + name,
				Type:                 typ,
				Name:                 name,
				Custom:               true,
				Protect:              true,
				Provider:             k8sProvider,
				Inputs:               obj,
				Dependencies:         []string{},
				PropertyDependencies: map[string][]string{},
			}
			byKind[kind] = r
			out = append(out, r)
		}
	}
	if hpa, d := byKind["HorizontalPodAutoscaler"], byKind["Deployment"]; hpa != nil && d != nil {
		hpa.PropertyDependencies["spec"] = []string{d.URN}
		hpa.Dependencies = []string{d.URN}
	}
	return out, nil
}

// find returns the resource of a type and name, or fails the test.
func find(t testing.TB, p *recorder.Plan, typ, name string) *recorder.Resource {
	t.Helper()
	if r := p.Find(typ, name); r != nil {
		return r
	}
	var have []string
	for _, r := range p.ByType(typ) {
		have = append(have, r.Name)
	}
	t.Fatalf("no %s %s in the fixture (have %v)", typ, name, have)
	return nil
}

// setPath sets a dotted path ("spec.containers.0.image") in nested maps and
// lists, creating maps on the way; a nil value deletes the last key.
func setPath(t testing.TB, root map[string]any, path string, value any) {
	t.Helper()
	parts := strings.Split(path, ".")
	var cur any = root
	for i, part := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if value == nil {
					if _, ok := c[part]; !ok {
						t.Fatalf("deleting %s: %s is not set", path, part)
					}
					delete(c, part)
				} else {
					c[part] = value
				}
				return
			}
			next, ok := c[part]
			if !ok {
				next = map[string]any{}
				c[part] = next
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(part)
			if err != nil || n < 0 || n >= len(c) {
				t.Fatalf("setting %s: no element %s", path, part)
			}
			if last {
				c[n] = value
				return
			}
			cur = c[n]
		default:
			t.Fatalf("setting %s: %s is a %T", path, strings.Join(parts[:i], "."), cur)
		}
	}
}

// mutation changes one thing in a plan.
type mutation func(t testing.TB, p *recorder.Plan)

// set changes (or, with nil, deletes) one input of one resource.
func set(typ, name, path string, value any) mutation {
	return func(t testing.TB, p *recorder.Plan) {
		t.Helper()
		setPath(t, find(t, p, typ, name).Inputs, path, value)
	}
}

// modify changes one resource's options.
func modify(typ, name string, f func(r *recorder.Resource)) mutation {
	return func(t testing.TB, p *recorder.Plan) {
		t.Helper()
		f(find(t, p, typ, name))
	}
}

// remove drops one resource.
func remove(typ, name string) mutation {
	return func(t testing.TB, p *recorder.Plan) {
		t.Helper()
		r := find(t, p, typ, name)
		for i, x := range p.Resources {
			if x == r {
				p.Resources = append(p.Resources[:i], p.Resources[i+1:]...)
				return
			}
		}
	}
}

// add appends a resource, parented to the stack, on the default provider
// unless it says otherwise.
func add(r recorder.Resource) mutation {
	return func(t testing.TB, p *recorder.Plan) {
		t.Helper()
		if p.Find(r.Type, r.Name) != nil {
			t.Fatalf("the fixture already has %s %s", r.Type, r.Name)
		}
		r.URN = "urn:pulumi:" + p.Stack + "::" + p.Project + "::" + r.Type + "::" + r.Name
		r.Custom = true
		r.Protect = true // as everything of the production fixture
		if r.PropertyDependencies == nil {
			r.PropertyDependencies = map[string][]string{}
		}
		p.Resources = append(p.Resources, &r)
	}
}

// urnOf is the URN of a fixture resource, for propertyDependencies.
func urnOf(t testing.TB, p *recorder.Plan, typ, name string) string {
	t.Helper()
	return find(t, p, typ, name).URN
}
