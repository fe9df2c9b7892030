package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

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
	return Violation{}, fmt.Errorf("rule %s: message does not start with \"<type> <name>: \" of a resource in the plan (build it with message()): %q",
		rule.ID, msg)
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
