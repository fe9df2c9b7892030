package teststack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Source says where the program of the test stacks comes from. The
// lifecycle code is the same for every source: the real command uses the
// project directory (LocalSource, which needs the Go language host, so it
// runs on users' machines and in CI), tests use an inline program
// (InlineSource) against a temporary backend.
type Source interface {
	// Dir is the project directory: Pulumi.yaml, the template stack files
	// and the test stacks' own Pulumi.<stack>.yaml live here.
	Dir() string
	// Workspace opens a workspace on Dir for commands that need no program
	// (listing stacks, tags, configuration, destroy).
	Workspace(ctx context.Context) (auto.Workspace, error)
	// Stack creates the named stack or selects it if it exists.
	Stack(ctx context.Context, name string) (auto.Stack, error)
}

// LocalSource runs the Pulumi program in a project directory.
type LocalSource struct {
	ProjectDir string
	// Options are added to every workspace (environment variables, the
	// Pulumi command, the secrets provider of new stacks, ...).
	Options []auto.LocalWorkspaceOption
}

// Dir implements Source.
func (s LocalSource) Dir() string { return s.ProjectDir }

// Workspace implements Source.
func (s LocalSource) Workspace(ctx context.Context) (auto.Workspace, error) {
	if err := hasProject(s.ProjectDir); err != nil {
		return nil, err
	}
	return auto.NewLocalWorkspace(ctx, append(append([]auto.LocalWorkspaceOption{}, s.Options...), auto.WorkDir(s.ProjectDir))...)
}

// Stack implements Source.
func (s LocalSource) Stack(ctx context.Context, name string) (auto.Stack, error) {
	if err := hasProject(s.ProjectDir); err != nil {
		return auto.Stack{}, err
	}
	return auto.UpsertStackLocalSource(ctx, name, s.ProjectDir, s.Options...)
}

// InlineSource runs a Go function as the program of every stack, with the
// project settings and stack files of ProjectDir.
type InlineSource struct {
	ProjectDir string
	Project    string
	Program    pulumi.RunFunc
	Options    []auto.LocalWorkspaceOption
}

// Dir implements Source.
func (s InlineSource) Dir() string { return s.ProjectDir }

// Workspace implements Source.
func (s InlineSource) Workspace(ctx context.Context) (auto.Workspace, error) {
	if err := hasProject(s.ProjectDir); err != nil {
		return nil, err
	}
	opts := append(append([]auto.LocalWorkspaceOption{}, s.Options...), auto.WorkDir(s.ProjectDir), auto.Program(s.Program))
	return auto.NewLocalWorkspace(ctx, opts...)
}

// Stack implements Source.
func (s InlineSource) Stack(ctx context.Context, name string) (auto.Stack, error) {
	if err := hasProject(s.ProjectDir); err != nil {
		return auto.Stack{}, err
	}
	opts := append(append([]auto.LocalWorkspaceOption{}, s.Options...), auto.WorkDir(s.ProjectDir))
	return auto.UpsertStackInlineSource(ctx, name, s.Project, s.Program, opts...)
}

func hasProject(dir string) error {
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi"+ext)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no Pulumi.yaml in %s: run teststack in the project directory (or pass --dir)", dir)
}

// settingsFile returns the path of a stack's settings file in dir and
// whether it exists.
func settingsFile(dir, stack string) (string, bool) {
	short := shortName(stack)
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		p := filepath.Join(dir, "Pulumi."+short+ext)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return filepath.Join(dir, "Pulumi."+short+".yaml"), false
}
