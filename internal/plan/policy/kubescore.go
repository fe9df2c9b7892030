package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zegl/kube-score/config"
	ks "github.com/zegl/kube-score/domain"
	"github.com/zegl/kube-score/parser"
	"github.com/zegl/kube-score/score"
	"github.com/zegl/kube-score/score/checks"
	"github.com/zegl/kube-score/scorecard"
)

// KubeScoreRulePrefix starts the rule of every kube-score violation
// ("kube-score/<check id>").
const KubeScoreRulePrefix = "kube-score/"

// KubeScoreException accepts a kube-score finding, for the reason given.
// Stacks, Kind, Namespace and Name narrow it; empty matches any.
type KubeScoreException struct {
	Check     string   `yaml:"check"`
	Stacks    []string `yaml:"stacks,omitempty"`
	Kind      string   `yaml:"kind,omitempty"`
	Namespace string   `yaml:"namespace,omitempty"`
	Name      string   `yaml:"name,omitempty"`
	Reason    string   `yaml:"reason"`
}

// AppliesTo says whether the exception is for stack.
func (e KubeScoreException) AppliesTo(stack string) bool {
	if len(e.Stacks) == 0 {
		return true
	}
	for _, s := range e.Stacks {
		if s == stack {
			return true
		}
	}
	return false
}

func (e KubeScoreException) matches(check, kind, namespace, name string) bool {
	return e.Check == check &&
		(e.Kind == "" || e.Kind == kind) &&
		(e.Namespace == "" || e.Namespace == namespace) &&
		(e.Name == "" || e.Name == name)
}

// KubeScoreChecks lists the ids of the checks kube-score runs here: its
// default checks plus the optional seccomp check, which the hardening set
// requires.
func KubeScoreChecks() []string {
	var ids []string
	for _, c := range score.RegisterAllChecks(parser.Empty(), nil, nil).All() {
		if !c.Optional || isEnabledOptional(c.ID) {
			ids = append(ids, c.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

var optionalChecks = []string{"container-seccomp-profile"}

func isEnabledOptional(id string) bool {
	for _, o := range optionalChecks {
		if o == id {
			return true
		}
	}
	return false
}

// LoadKubeScoreExceptions reads an exceptions file. Unknown fields, a
// missing reason or a check kube-score does not have are errors.
func LoadKubeScoreExceptions(path string) ([]KubeScoreException, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Exceptions []KubeScoreException `yaml:"exceptions"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	known := map[string]bool{}
	for _, id := range KubeScoreChecks() {
		known[id] = true
	}
	var errs []error
	for i, e := range doc.Exceptions {
		if !known[e.Check] {
			errs = append(errs, fmt.Errorf("%s: exceptions[%d]: unknown kube-score check %q", path, i, e.Check))
		}
		if strings.TrimSpace(e.Reason) == "" {
			errs = append(errs, fmt.Errorf("%s: exceptions[%d] (%s): no reason", path, i, e.Check))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return doc.Exceptions, nil
}

// KubeScoreReport is the outcome of scoring a manifest directory.
type KubeScoreReport struct {
	// Files are the manifests scored; none means there was nothing to
	// score (the stack renders no Kubernetes objects yet).
	Files []string
	// Violations are findings graded WARNING or CRITICAL that no
	// exception accepts; all are errors.
	Violations []Violation
	// Accepted are the findings exceptions accept, with the reason as
	// their message.
	Accepted []Violation
	// Unused are exceptions for this stack that matched no finding.
	Unused []KubeScoreException
}

// KubeScore scores every YAML or JSON manifest under dir, the rendered
// manifests of stack, with kube-score. A missing or empty directory is not
// an error: the report has no files.
func KubeScore(dir, stack string, exceptions []KubeScoreException) (*KubeScoreReport, error) {
	var applicable []KubeScoreException
	for _, e := range exceptions {
		if e.AppliesTo(stack) {
			applicable = append(applicable, e)
		}
	}
	exceptions = applicable
	report := &KubeScoreReport{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				report.Files = append(report.Files, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading manifests in %s: %w", dir, err)
	}
	if len(report.Files) == 0 {
		return report, nil
	}
	sort.Strings(report.Files)

	readers := make([]ks.NamedReader, 0, len(report.Files))
	for _, f := range report.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		readers = append(readers, namedReader{Reader: bytes.NewReader(b), name: f})
	}
	p, err := parser.New(nil)
	if err != nil {
		return nil, err
	}
	objects, err := p.ParseFiles(readers)
	if err != nil {
		return nil, fmt.Errorf("parsing manifests in %s: %w", dir, err)
	}
	enabled := map[string]struct{}{}
	for _, id := range optionalChecks {
		enabled[id] = struct{}{}
	}
	run := &config.RunConfiguration{
		EnabledOptionalTests: enabled,
		// Exceptions live in the exceptions file, never in a manifest.
		UseIgnoreChecksAnnotation:   false,
		UseOptionalChecksAnnotation: false,
		KubernetesVersion:           config.Semver{Major: 1, Minor: 30},
		MinReplicasDeployment:       2,
		MinReplicasHPA:              2,
	}
	card, err := score.Score(objects, score.RegisterAllChecks(objects, &checks.Config{}, run), run)
	if err != nil {
		return nil, fmt.Errorf("scoring manifests in %s: %w", dir, err)
	}

	used := make([]bool, len(exceptions))
	for _, o := range *card {
		kind := o.TypeMeta.Kind
		ns, name := o.ObjectMeta.Namespace, o.ObjectMeta.Name
		for _, ts := range o.Checks {
			if ts.Skipped || ts.Grade > scorecard.GradeWarning {
				continue
			}
			v := Violation{
				Rule:     KubeScoreRulePrefix + ts.Check.ID,
				Severity: Error,
				Type:     kubernetesType(o.TypeMeta.APIVersion, kind),
				Name:     objectName(ns, name),
				Message:  findingMessage(ts, o.FileLocation),
			}
			accepted := false
			for i, e := range exceptions {
				if e.matches(ts.Check.ID, kind, ns, name) {
					used[i] = true
					if !accepted {
						accepted = true
						v.Message = strings.Join(strings.Fields(e.Reason), " ")
						report.Accepted = append(report.Accepted, v)
					}
				}
			}
			if !accepted {
				report.Violations = append(report.Violations, v)
			}
		}
	}
	for i, e := range exceptions {
		if !used[i] {
			report.Unused = append(report.Unused, e)
		}
	}
	Sort(report.Violations)
	Sort(report.Accepted)
	return report, nil
}

type namedReader struct {
	io.Reader
	name string
}

func (n namedReader) Name() string { return n.name }

// kubernetesType spells a manifest's kind as Pulumi's type token
// ("apps/v1", "Deployment" -> "kubernetes:apps/v1:Deployment").
func kubernetesType(apiVersion, kind string) string {
	if !strings.Contains(apiVersion, "/") {
		apiVersion = "core/" + apiVersion
	}
	return "kubernetes:" + apiVersion + ":" + kind
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func findingMessage(ts scorecard.TestScore, loc ks.FileLocation) string {
	var parts []string
	for _, c := range ts.Comments {
		s := c.Summary
		if c.Path != "" {
			s = c.Path + ": " + s
		}
		if c.Description != "" {
			s += " (" + c.Description + ")"
		}
		parts = append(parts, s)
	}
	msg := fmt.Sprintf("%s %s", ts.Grade, ts.Check.Name)
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	if loc.Name != "" {
		msg += fmt.Sprintf(" [%s:%d]", filepath.Base(loc.Name), loc.Line)
	}
	return msg
}
