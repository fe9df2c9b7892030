package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
)

// analyzer evaluates the rules the way the Pulumi OPA analyzer
// (pulumi/pulumi-policy-opa) does: every .rego file compiled together
// with the Rego v0 parser (older analyzers' setting; the files' `import
// rego.v1` makes them load in both), a deny_/warn_ rule evaluated once per
// resource with that resource alone as input, a stack_ rule once with
// input.resources. (The analyzer queries data.<package>.<rule> per rule;
// one query reads every rule of the scope per input, which is the
// same evaluation, many times cheaper.)
type analyzer struct {
	rules   []policy.Rule
	queries map[policy.Scope]rego.PreparedEvalQuery

	// resourceMessages memoizes the resource rules' messages per
	// resource input, keyed by the input's JSON. Rego reads an input as
	// its JSON (rego.EvalInput round-trips it) and the rules are pure, so
	// an equal key is the same evaluation: a rule case changes one or two
	// resources, and the fixture's other resources are evaluated once.
	mu               sync.Mutex
	resourceMessages map[string]map[string][]string
}

func newAnalyzer(t testing.TB, e *policy.Engine) *analyzer {
	t.Helper()
	modules := map[string]string{}
	files, err := filepath.Glob(filepath.Join(rulesDir, "*.rego"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		modules[strings.TrimSuffix(filepath.Base(f), ".rego")] = string(b)
	}
	compiler, err := ast.CompileModulesWithOpt(modules, ast.CompileOpts{ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV0}})
	if err != nil {
		t.Fatalf("the rules do not compile as the analyzer compiles them (Rego v0 parser): %v", err)
	}
	a := &analyzer{rules: e.Rules(), queries: map[policy.Scope]rego.PreparedEvalQuery{}, resourceMessages: map[string]map[string][]string{}}
	for _, scope := range []policy.Scope{policy.ResourceScope, policy.StackScope} {
		// One object holding the rules of the scope: {"deny_x": data.asyncjobs.deny_x, ...}.
		var fields []string
		for _, r := range a.rules {
			if r.Scope == scope {
				fields = append(fields, fmt.Sprintf("%q: data.%s.%s", r.Entry, policy.Package, r.Entry))
			}
		}
		q, err := rego.New(
			rego.Query("{"+strings.Join(fields, ", ")+"}"),
			rego.Compiler(compiler),
			rego.SetRegoVersion(ast.RegoV0),
		).PrepareForEval(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		a.queries[scope] = q
	}
	return a
}

// eval returns the messages of every rule of scope for one input.
func (a *analyzer) eval(t testing.TB, scope policy.Scope, input any, out map[string][]string) {
	t.Helper()
	rs, err := a.queries[scope].Eval(context.Background(), rego.EvalInput(input))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d results", len(rs))
	}
	doc := rs[0].Expressions[0].Value.(map[string]any)
	for _, r := range a.rules {
		if r.Scope != scope {
			continue
		}
		list, _ := doc[r.Entry].([]any)
		for _, m := range list {
			out[r.ID] = append(out[r.ID], m.(string))
		}
	}
}

// messages returns, per rule id, the sorted messages the analyzer reports
// for a stack input built by policy.Input.
func (a *analyzer) messages(t testing.TB, input map[string]any) map[string][]string {
	t.Helper()
	resources := input["resources"].([]any)
	out := map[string][]string{}
	a.eval(t, policy.StackScope, map[string]any{"resources": resources}, out)
	for _, res := range resources {
		// A resource rule's input has no stack-level fields.
		single := map[string]any{}
		for k, v := range res.(map[string]any) {
			if k != "dependencies" && k != "propertyDependencies" {
				single[k] = v
			}
		}
		for id, msgs := range a.resourceEval(t, single) {
			out[id] = append(out[id], msgs...)
		}
	}
	for _, msgs := range out {
		sort.Strings(msgs)
	}
	return out
}

// resourceEval returns the resource rules' messages for one resource
// input, evaluated once per distinct input (see resourceMessages). The
// result is shared: callers must not change it.
func (a *analyzer) resourceEval(t testing.TB, input map[string]any) map[string][]string {
	t.Helper()
	b, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	key := string(b)
	a.mu.Lock()
	msgs, ok := a.resourceMessages[key]
	a.mu.Unlock()
	if ok {
		return msgs
	}
	msgs = map[string][]string{}
	a.eval(t, policy.ResourceScope, input, msgs)
	a.mu.Lock()
	a.resourceMessages[key] = msgs
	a.mu.Unlock()
	return msgs
}

func engineMessages(t testing.TB, e *policy.Engine, input map[string]any) map[string][]string {
	t.Helper()
	res, err := e.EvaluateInput(context.Background(), input)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, v := range res.Violations {
		out[v.Rule] = append(out[v.Rule], v.Resource()+": "+v.Message)
	}
	for _, msgs := range out {
		sort.Strings(msgs)
	}
	return out
}

// TestAnalyzerReportsTheSame: for the good fixture and every rule case,
// the analyzer's way of evaluating reports exactly what Engine.Evaluate
// reports, so `pulumi preview --policy-pack policy` enforces what
// cmd/policy checks.
func TestAnalyzerReportsTheSame(t *testing.T) {
	e := engine(t)
	a := newAnalyzer(t, e)
	// check evaluates input once each way; breaks says the input must
	// break a rule.
	check := func(t *testing.T, input map[string]any, breaks bool) {
		want := engineMessages(t, e, input)
		if breaks && len(want) == 0 {
			t.Fatal("the case breaks no rule")
		}
		if got := a.messages(t, input); !reflect.DeepEqual(got, want) {
			t.Errorf("analyzer reports\n%v\ncmd/policy reports\n%v", got, want)
		}
	}
	t.Run("good fixture", func(t *testing.T) {
		check(t, policy.Input(goodPlan(t), policy.Options{}), false)
	})
	for _, tc := range ruleCases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			p := goodPlan(t)
			tc.mutate(t, p)
			check(t, policy.Input(p, policy.Options{}), true)
		})
	}
}
