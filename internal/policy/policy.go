// Package policy evaluates the asyncjobs rules over a recorded plan. The
// rules are the Rego files in the repository's policy/ directory, the same
// files the Pulumi policy pack (policy/PulumiPolicy.yaml) runs under
// `pulumi preview --policy-pack policy`: the plan is turned into the
// resource objects the Pulumi OPA analyzer hands to Rego (see Input), so
// one set of rules serves both. The package also scores rendered
// Kubernetes manifests with kube-score (see KubeScore).
//
// Only this package and cmd/policy import the policy engines; the Pulumi
// program never does.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/asyncjobs/asyncjobs/internal/recorder"
)

// Package is the Rego package of every rule file; Pulumi names the policy
// pack after it.
const Package = "asyncjobs"

// Severity is how a violation counts: errors fail, warnings are reported.
type Severity string

// Severities, as written in the rules' METADATA (custom.severity).
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Scope says how the Pulumi analyzer evaluates a rule.
type Scope string

// Scopes, from the rule name's prefix.
const (
	// ResourceScope rules (deny_*, warn_*) see one resource at a time
	// under the analyzer.
	ResourceScope Scope = "resource"
	// StackScope rules (stack_deny_*, stack_warn_*) see every resource.
	StackScope Scope = "stack"
)

// Rule is one rule as declared in its METADATA annotation.
type Rule struct {
	ID          string
	Severity    Severity
	Scope       Scope
	Title       string
	Description string
	// Entry is the Rego rule name: the policy name `pulumi preview` shows.
	Entry string
	// File is the rule file the rule is declared in.
	File string
}

// Violation is one finding: a rule, the resource it names, what is wrong
// and the fix.
type Violation struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	URN      string   `json:"urn,omitempty"`
	Message  string   `json:"message"`
}

// Resource is the resource's type and logical name.
func (v Violation) Resource() string { return v.Type + " " + v.Name }

func (v Violation) String() string {
	return fmt.Sprintf("[%s] %s: %s", v.Rule, v.Resource(), v.Message)
}

// Options change an evaluation.
type Options struct {
	// Production applies the production rules whatever the plan says. It
	// can only add rules: a stack that is production by its name or labels
	// stays production without it.
	Production bool
}

// Result is an evaluation's outcome.
type Result struct {
	// Violations, errors first, then by rule and resource.
	Violations []Violation
	// Production lists why the stack counts as production; empty when it
	// does not.
	Production []string
}

// Errors counts error-level violations.
func (r *Result) Errors() int { return countSeverity(r.Violations, Error) }

// Warnings counts warning-level violations.
func (r *Result) Warnings() int { return countSeverity(r.Violations, Warning) }

func countSeverity(vs []Violation, s Severity) int {
	n := 0
	for _, v := range vs {
		if v.Severity == s {
			n++
		}
	}
	return n
}

// Engine holds the compiled rules of one policy directory.
type Engine struct {
	dir      string
	rules    []Rule
	compiler *ast.Compiler
	query    rego.PreparedEvalQuery
}

var (
	// entryName is what the Pulumi OPA analyzer evaluates as a policy;
	// everything else is a helper. Our rules use deny/warn only.
	entryName = regexp.MustCompile(`^(stack_)?(deny|warn|violation)(_[a-zA-Z0-9]+)*$`)
	// lookalike mirrors the analyzer's check for helpers named like
	// rules (warning[opa/unrecognized-rule]): such a helper would
	// silently never run as a policy.
	lookalike = regexp.MustCompile(`^(?i:stack[_-]?)?(?i:deny|denies|violation|violations|violate|warn|warns|warning|warnings|` +
		`require|requires|must|ensure|ensures|enforce|enforces|should|check|checks|validate|validates|verify|verifies|` +
		`disallow|disallows|prohibit|prohibits|forbid|forbids|restrict|restricts|block|blocks|prevent|prevents|` +
		`mandate|mandates|reject|rejects)(_|-|[A-Z0-9]|$)`)
	ruleID = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// Load reads and compiles every .rego file under dir, as the Pulumi OPA
// analyzer does, and checks that each rule declares its id and severity
// consistently with its name.
func Load(dir string) (*Engine, error) {
	sources := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".rego" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		sources[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading rules in %s: %w", dir, err)
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("no .rego files in %s", dir)
	}
	modules := map[string]*ast.Module{}
	for name, src := range sources {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{ProcessAnnotation: true, RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		if got := m.Package.Path.String(); got != "data."+Package {
			return nil, fmt.Errorf("%s: package %s, want %s (the policy pack takes one package)", name, strings.TrimPrefix(got, "data."), Package)
		}
		modules[name] = m
	}
	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("compiling rules in %s: %w", dir, compiler.Errors)
	}
	rules, err := declaredRules(modules)
	if err != nil {
		return nil, fmt.Errorf("rules in %s: %w", dir, err)
	}
	query, err := rego.New(rego.Compiler(compiler), rego.Query("data."+Package)).PrepareForEval(context.Background())
	if err != nil {
		return nil, fmt.Errorf("preparing rules in %s: %w", dir, err)
	}
	return &Engine{dir: dir, rules: rules, compiler: compiler, query: query}, nil
}

// declaredRules collects the entry rules and their METADATA, and refuses
// what the analyzer would treat differently from cmd/policy.
func declaredRules(modules map[string]*ast.Module) ([]Rule, error) {
	var errs []error
	bodies := map[string]int{}
	files := map[string]string{}
	rules := map[string]*Rule{}
	names := slices.Sorted(maps.Keys(modules))
	for _, file := range names {
		m := modules[file]
		for _, r := range m.Rules {
			name := r.Head.Name.String()
			if name == "" {
				name = r.Head.Reference.String()
			}
			if !entryName.MatchString(name) {
				if lookalike.MatchString(name) {
					errs = append(errs, fmt.Errorf("%s: helper %s is named like a rule; the analyzer would skip it with a warning: rename it", file, name))
				}
				continue
			}
			bodies[name]++
			files[name] = file
		}
		for _, a := range m.Annotations {
			if a.Scope != "rule" && a.Scope != "document" {
				continue
			}
			path := a.GetTargetPath()
			name := strings.TrimPrefix(path.String(), "data."+Package+".")
			if !entryName.MatchString(name) {
				continue
			}
			if rules[name] != nil {
				errs = append(errs, fmt.Errorf("%s: %s has more than one METADATA block", file, name))
				continue
			}
			rules[name] = ruleFromAnnotation(name, file, a)
		}
	}
	var out []Rule
	for name, n := range bodies {
		if n > 1 {
			// The analyzer registers a rule once and warns about each
			// further body (opa/duplicate-rule); keep one body per rule.
			errs = append(errs, fmt.Errorf("%s: %s has %d bodies; give it one and move the cases into a helper", files[name], name, n))
		}
		r := rules[name]
		if r == nil {
			errs = append(errs, fmt.Errorf("%s: %s has no METADATA with custom.id and custom.severity", files[name], name))
			continue
		}
		if err := r.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", r.File, name, err))
			continue
		}
		out = append(out, *r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no rules (deny_*, warn_*, stack_deny_*, stack_warn_*)")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func ruleFromAnnotation(name, file string, a *ast.Annotations) *Rule {
	r := &Rule{Entry: name, File: file, Title: a.Title, Description: strings.TrimSpace(a.Description)}
	if id, ok := a.Custom["id"].(string); ok {
		r.ID = id
	}
	if s, ok := a.Custom["severity"].(string); ok {
		r.Severity = Severity(s)
	}
	r.Scope = ResourceScope
	if strings.HasPrefix(name, "stack_") {
		r.Scope = StackScope
	}
	return r
}

// check ties the name to the declaration: deny_<id> is an error, warn_<id>
// a warning, stack_ a stack rule, so what `pulumi preview` enforces is
// what cmd/policy enforces.
func (r *Rule) check() error {
	if !ruleID.MatchString(r.ID) {
		return fmt.Errorf("custom.id %q: want lower-case words joined by hyphens", r.ID)
	}
	if r.Title == "" || r.Description == "" {
		return errors.New("METADATA needs a title and a description")
	}
	var prefix string
	switch r.Severity {
	case Error:
		prefix = "deny_"
	case Warning:
		prefix = "warn_"
	default:
		return fmt.Errorf("custom.severity %q: want error or warning", r.Severity)
	}
	if r.Scope == StackScope {
		prefix = "stack_" + prefix
	}
	if want := prefix + strings.ReplaceAll(r.ID, "-", "_"); r.Entry != want {
		return fmt.Errorf("id %s with severity %s is the rule %s (or stack_%s)", r.ID, r.Severity, strings.TrimPrefix(want, "stack_"), strings.TrimPrefix(want, "stack_"))
	}
	return nil
}

// Dir is the directory the rules were loaded from.
func (e *Engine) Dir() string { return e.dir }

// Rules lists the rules by id.
func (e *Engine) Rules() []Rule { return append([]Rule(nil), e.rules...) }

// Rule returns the rule with the given id.
func (e *Engine) Rule(id string) (Rule, bool) {
	for _, r := range e.rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// Evaluate runs every rule once over the whole plan.
func (e *Engine) Evaluate(ctx context.Context, plan *recorder.Plan, opts Options) (*Result, error) {
	if plan == nil {
		return nil, errors.New("no plan")
	}
	return e.EvaluateInput(ctx, Input(plan, opts))
}

// EvaluateInput runs every rule once over an input built by Input (or by
// hand, in the same shape).
func (e *Engine) EvaluateInput(ctx context.Context, input map[string]any) (*Result, error) {
	rs, err := e.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluating rules: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("evaluating rules: unexpected result %v", rs)
	}
	doc, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("evaluating rules: data.%s is %T", Package, rs[0].Expressions[0].Value)
	}
	index := resourceIndex(input)
	res := &Result{}
	var errs []error
	for _, rule := range e.rules {
		msgs, err := messageSet(doc[rule.Entry])
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", rule.ID, err))
			continue
		}
		for _, msg := range msgs {
			v, err := violation(rule, msg, index)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res.Violations = append(res.Violations, v)
		}
	}
	reasons, err := messageSet(doc["production_reasons"])
	if err != nil {
		errs = append(errs, fmt.Errorf("production_reasons: %w", err))
	}
	res.Production = reasons
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	Sort(res.Violations)
	return res, nil
}

// messageSet reads a Rego set of strings (absent: empty).
func messageSet(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a set of messages, got %T", v)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("want string messages, got %T", e)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

type indexed struct{ typ, name, urn string }

// resourceIndex maps "<type> <name>" to the resource, for reading back
// which resource a message names.
func resourceIndex(input map[string]any) map[string]indexed {
	index := map[string]indexed{}
	list, _ := input["resources"].([]any)
	for _, e := range list {
		r, _ := e.(map[string]any)
		typ, _ := r["__type"].(string)
		name, _ := r["__name"].(string)
		urn, _ := r["__urn"].(string)
		index[typ+" "+name] = indexed{typ, name, urn}
	}
	return index
}

// violation reads the resource back from the "<type> <name>: " prefix
// every message starts with (lib.rego's message).
func violation(rule Rule, msg string, index map[string]indexed) (Violation, error) {
	for i := strings.Index(msg, ": "); i >= 0; {
		if r, ok := index[msg[:i]]; ok {
			return Violation{Rule: rule.ID, Severity: rule.Severity, Type: r.typ, Name: r.name, URN: r.urn, Message: msg[i+2:]}, nil
		}
		next := strings.Index(msg[i+2:], ": ")
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return Violation{}, fmt.Errorf("rule %s: message does not start with \"<type> <name>: \" of a resource in the plan (build it with message()): %q", rule.ID, msg)
}

// Sort orders violations: errors first, then by rule, resource and message.
func Sort(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.Severity != b.Severity {
			return a.Severity == Error
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Message < b.Message
	})
}

// FindDir finds the repository's policy directory: policy/ next to the
// go.mod in start or one of its parents.
func FindDir(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(dir, "policy")
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(candidate, "PulumiPolicy.yaml")) {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no policy/PulumiPolicy.yaml next to a go.mod in %s or its parents", start)
		}
		dir = parent
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

var defaultEngine = sync.OnceValues(func() (*Engine, error) {
	dir, err := FindDir(".")
	if err != nil {
		return nil, err
	}
	return Load(dir)
})

// Default is the engine of the repository's policy directory, found from
// the working directory (see FindDir) and loaded once.
func Default() (*Engine, error) { return defaultEngine() }

// Evaluate runs the repository's rules over plan and returns every
// violation, errors first. A stack is production by its name or labels;
// see Engine.Evaluate to force it.
func Evaluate(ctx context.Context, plan *recorder.Plan) ([]Violation, error) {
	e, err := Default()
	if err != nil {
		return nil, err
	}
	res, err := e.Evaluate(ctx, plan, Options{})
	if err != nil {
		return nil, err
	}
	return res.Violations, nil
}
