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
)

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
		return fmt.Errorf("id %s with severity %s is the rule %s (or stack_%s)",
			r.ID, r.Severity, strings.TrimPrefix(want, "stack_"), strings.TrimPrefix(want, "stack_"))
	}
	return nil
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
