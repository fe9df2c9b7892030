// Package stackfile loads a stack's configuration the way the Pulumi CLI
// does: Pulumi.yaml and Pulumi.<stack>.yaml read with the Pulumi SDK's
// workspace loader, the project's declared types checked and its defaults
// applied.
package stackfile

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/pulumi/esc"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
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

// Load reads dir/Pulumi.yaml and dir/Pulumi.<stack>.yaml.
func Load(dir, stack string) (*Stack, error) {
	project, err := workspace.LoadProject(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return nil, fmt.Errorf("loading Pulumi.yaml: %w", err)
	}
	file := filepath.Join(dir, fmt.Sprintf("Pulumi.%s.yaml", stack))
	sink := diag.DefaultSink(discard{}, discard{}, diag.FormatOptions{Color: colors.Never})
	ps, err := workspace.LoadProjectStack(sink, project, file)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", filepath.Base(file), err)
	}
	cfg := ps.Config
	if cfg == nil {
		cfg = config.Map{}
	}
	if err := workspace.ValidateStackConfigAndApplyProjectConfig(context.Background(), stack, project, esc.Value{}, cfg, config.NopEncrypter, config.NewBlindingDecrypter()); err != nil {
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
	return out, nil
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
