// Package stackfile loads a stack's configuration the way the Pulumi CLI
// does: Pulumi.yaml and Pulumi.<stack>.yaml read with the Pulumi SDK's
// workspace loader, the project's declared types checked and its defaults
// applied.
package stackfile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	"github.com/pulumi/esc"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Stack is a loaded stack configuration.
type Stack struct {
	Project string
	Name    string
	// Config maps "ns:key" to the value the engine would pass the program.
	Config map[string]string
	// SecretKeys are keys whose values are secret; offline they read as
	// a blinded placeholder.
	SecretKeys []string
}

// ProjectError lists what the Pulumi CLI itself would refuse in a stack
// file before the program runs: values of the wrong declared type and
// required keys left unset (Pulumi.yaml's config schema), one error per
// key, each in the CLI's own words. Load returns it together with the
// stack, its values as written, so that the program's own validation can
// run too and every problem is reported in one list.
type ProjectError struct {
	File string
	Errs field.ErrorList
}

func (e *ProjectError) Error() string {
	lines := []string{fmt.Sprintf("%s: %d problems with Pulumi.yaml's config schema:", e.File, len(e.Errs))}
	for _, err := range e.Errs {
		lines = append(lines, "  "+err.Error())
	}
	return strings.Join(lines, "\n")
}

// Load reads dir/Pulumi.yaml and dir/Pulumi.<stack>.yaml. A stack file that
// breaks Pulumi.yaml's config schema gives the stack and a *ProjectError.
func Load(dir, stack string) (*Stack, error) {
	project, err := workspace.LoadProject(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return nil, fmt.Errorf("loading Pulumi.yaml: %w", err)
	}
	file := filepath.Join(dir, fmt.Sprintf("Pulumi.%s.yaml", stack))
	// Before the loader: it reads .inf and .nan without saying where,
	// and 0123 as 83 without saying anything.
	if data, err := os.ReadFile(file); err == nil {
		declared := map[string]string{}
		for k, t := range project.Config {
			if !strings.Contains(k, ":") {
				k = string(project.Name) + ":" + k
			}
			if t.Type != nil {
				declared[k] = *t.Type
			}
		}
		if errs := readings(data, declared); len(errs) > 0 {
			return nil, &ReadingError{File: filepath.Base(file), Errs: errs}
		}
	}
	sink := diag.DefaultSink(discard{}, discard{}, diag.FormatOptions{Color: colors.Never})
	ps, err := workspace.LoadProjectStack(sink, project, file)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", filepath.Base(file), yamlPosition(file, err))
	}
	cfg := ps.Config
	if cfg == nil {
		cfg = config.Map{}
	}
	// The CLI's check stops at the first problem; run it key by key (the
	// same SDK function, on a one-key view of the schema) to have them all.
	var problems field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(project.Config)) {
		one := *project
		one.Config = map[string]workspace.ProjectConfigType{k: project.Config[k]}
		if err := workspace.ValidateStackConfigAndApplyProjectConfig(context.Background(), stack, &one, esc.Value{}, copyMap(cfg),
			config.NopEncrypter, config.NewBlindingDecrypter()); err != nil {
			problems = append(problems, &field.Error{Type: field.ErrorTypeInvalid, Field: k, BadValue: written(cfg, k), Detail: err.Error()})
		}
	}
	// Defaults of the keys that have them, whatever the rest says.
	if err := workspace.ApplyProjectConfig(context.Background(), stack, project, esc.Value{}, cfg, config.NopEncrypter); err != nil && len(problems) == 0 {
		return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	out := &Stack{Project: string(project.Name), Name: stack, Config: map[string]string{}}
	decrypted, err := cfg.Decrypt(config.NewBlindingDecrypter())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	for k, v := range decrypted {
		key := k.Namespace() + ":" + k.Name()
		out.Config[key] = v
		if cfg[k].Secure() {
			out.SecretKeys = append(out.SecretKeys, key)
		}
	}
	sort.Strings(out.SecretKeys)
	if len(problems) > 0 {
		return out, &ProjectError{File: filepath.Base(file), Errs: problems}
	}
	return out, nil
}

func copyMap(m config.Map) config.Map {
	out := make(config.Map, len(m))
	maps.Copy(out, m)
	return out
}

// written is a key's value as the stack file has it, or field.OmitValueType
// when it is not set.
func written(cfg config.Map, key string) any {
	for k, v := range cfg {
		if k.String() == key {
			if v.Secure() {
				return "[secret]"
			}
			s, err := v.Value(config.NopDecrypter)
			if err == nil {
				return s
			}
		}
	}
	return field.OmitValueType{}
}

// Stacks lists the stack names that have a Pulumi.<stack>.yaml in dir.
func Stacks(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		base := filepath.Base(f)
		names = append(names, base[len("Pulumi."):len(base)-len(".yaml")])
	}
	sort.Strings(names)
	return names, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// yamlPosition gives a YAML syntax error of file the line where the parser
// found the problem. The SDK's YAML parser reports some errors ("did not
// find expected key") at the line where the enclosing block starts, which
// can be far above the mistake; a second parser reports where it stopped.
// The later of the two lines is the nearer one: both read top to bottom and
// stop at or after the mistake. Other errors pass unchanged.
func yamlPosition(file string, err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	data, readErr := os.ReadFile(file)
	if readErr != nil {
		return err
	}
	var v any
	perr := goyaml.Unmarshal(data, &v)
	var syntax *goyaml.SyntaxError
	if perr == nil || !errors.As(perr, &syntax) || syntax.Token == nil || syntax.Token.Position == nil {
		return err
	}
	sdkLine, _ := strconv.Atoi(m[1])
	line := max(sdkLine, syntax.Token.Position.Line)
	lines := strings.Split(string(data), "\n")
	text := ""
	if line >= 1 && line <= len(lines) {
		text = strings.TrimRight(lines[line-1], " ")
	}
	return fmt.Errorf("line %d: %s (%s)\n  %d | %s", line, syntax.Message, strings.TrimSpace(m[2]), line, text)
}

var yamlLine = regexp.MustCompile(`yaml: line (\d+): (.*)`)
