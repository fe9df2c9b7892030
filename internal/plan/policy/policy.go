// Package policy evaluates the asyncjobs rules over a recorded plan. The
// rules are the Rego files in the repository's policy/ directory, the same
// files the Pulumi policy pack (policy/PulumiPolicy.yaml) runs under
// `pulumi preview --policy-pack policy`: the plan is turned into the
// resource objects the Pulumi OPA analyzer hands to Rego (see Input), so
// one set of rules serves both. The package also scores rendered
// Kubernetes manifests with kube-score (see KubeScore).
//
// load.go reads, compiles and checks the rules; evaluate.go runs them over
// a plan, turned into their input by input.go.
//
// Only this package and cmd/policy import the policy engines; the Pulumi
// program never does.
package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
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
