package teststack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// findStack looks a stack up in the backend; names may be qualified on
// either side.
// openStack opens the workspace and finds the stack called name in it:
// its full name, and whether it exists. Errors name the step.
func (m *Manager) openStack(ctx context.Context, name string) (ws auto.Workspace, full string, exists bool, err error) {
	ws, err = m.Source.Workspace(ctx)
	if err != nil {
		return nil, "", false, stepErr(name, "open workspace", err)
	}
	full, exists, err = findStack(ctx, ws, name)
	if err != nil {
		return nil, "", false, stepErr(name, "list stacks", err)
	}
	return ws, full, exists, nil
}

func findStack(ctx context.Context, ws auto.Workspace, name string) (string, bool, error) {
	stacks, err := ws.ListStacks(ctx)
	if err != nil {
		return "", false, err
	}
	for _, s := range stacks {
		if s.Name == name {
			return s.Name, true, nil
		}
	}
	if strings.Contains(name, "/") {
		return "", false, nil
	}
	for _, s := range stacks {
		if shortName(s.Name) == name {
			return s.Name, true, nil
		}
	}
	return "", false, nil
}

// readMeta reads a stack's record: tags first, then configuration (the local
// stack file, or the configuration of the last deployment when there is no
// local file, as on a fresh checkout). errNoMeta means none was found.
func (m *Manager) readMeta(ctx context.Context, ws auto.Workspace, name string) (Meta, error) {
	if !m.NoTags {
		tags, err := ws.ListTags(ctx, name)
		if err != nil {
			m.logf(name, "cannot read stack tags (%v); looking in the configuration", firstLine(err))
		} else {
			meta, err := parseMeta(tags, tags[TagSuffix], "tags")
			switch {
			case err == nil && meta.Suffix == "":
				// A record without its suffix tag: the configuration has it.
				if values, cerr := m.configValues(ctx, ws, name); cerr == nil {
					meta.Suffix = values[m.SuffixKey]
				}
				return meta, nil
			case !errors.Is(err, errNoMeta):
				return meta, err
			}
		}
	}
	values, err := m.configValues(ctx, ws, name)
	if err != nil {
		return Meta{}, err
	}
	meta, err := parseMeta(values, values[m.SuffixKey], "config")
	if errors.Is(err, errNoMeta) {
		return Meta{}, fmt.Errorf("%w: no teststack tags or configuration keys", errNoMeta)
	}
	return meta, err
}

// configValues reads the plain configuration values of a stack from its
// settings file, restored from the last deployment when there is none.
func (m *Manager) configValues(ctx context.Context, ws auto.Workspace, name string) (map[string]string, error) {
	if err := m.restoreSettings(ctx, ws, name); err != nil {
		return nil, fmt.Errorf("%w: no tags, no local stack file, and no configuration in the last deployment (%v)", errNoMeta, firstLine(err))
	}
	settings, err := ws.StackSettings(ctx, name)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for k, v := range settings.Config {
		if v.Secure() || v.Object() {
			continue
		}
		s, err := v.Value(config.NopDecrypter)
		if err != nil {
			continue
		}
		values[k.String()] = s
	}
	return values, nil
}

// restoreSettings brings back a stack's settings file when there is none
// (a fresh checkout, as in CI): `pulumi config refresh` rebuilds it from the
// last deployment, including the secrets provider's settings, which later
// commands need to read and write the stack's secrets. A stack that was never
// deployed has nothing to restore.
func (m *Manager) restoreSettings(ctx context.Context, ws auto.Workspace, name string) error {
	if _, ok := settingsFile(m.Source.Dir(), name); ok {
		return nil
	}
	m.logf(name, "no local stack file; restoring it from the last deployment (pulumi config refresh)")
	_, err := ws.RefreshConfig(ctx, name)
	if _, ok := settingsFile(m.Source.Dir(), name); ok {
		// The file is back even if reading it afterwards failed.
		return nil
	}
	if err == nil {
		err = errors.New("pulumi config refresh wrote no stack file")
	}
	return err
}

// writeTags records meta as stack tags. Tags are best effort: a backend or
// CLI without them leaves the record in configuration only.
func (m *Manager) writeTags(ctx context.Context, ws auto.Workspace, name string, meta Meta) {
	if m.NoTags {
		return
	}
	tags := meta.tags()
	keys := slices.Sorted(maps.Keys(tags))
	for _, k := range keys {
		if err := ws.SetTag(ctx, name, k, tags[k]); err != nil {
			m.logf(name, "cannot set stack tags (%v); the record is kept in the stack configuration only", firstLine(err))
			return
		}
	}
}

// testConfig builds the test stack's configuration: the template's values,
// the overrides, the name suffix and the record. secure lists the template's
// secret keys (not overridden), whose values must be copied through the
// template stack.
func (m *Manager) testConfig(tmpl *workspace.ProjectStack, meta Meta) (config.Map, []string, error) {
	cfg := config.Map{}
	var secure []string
	set := func(key string, v config.Value) error {
		k, err := config.ParseKey(key)
		if err != nil {
			return fmt.Errorf("configuration key %q: %w", key, err)
		}
		cfg[k] = v
		return nil
	}
	for k, v := range tmpl.Config {
		cfg[k] = v
	}
	for k, v := range m.Overrides {
		if err := set(k, v); err != nil {
			return nil, nil, err
		}
	}
	if err := set(m.SuffixKey, config.NewValue(meta.Suffix)); err != nil {
		return nil, nil, err
	}
	for k, v := range meta.config() {
		if err := set(k, config.NewValue(v)); err != nil {
			return nil, nil, err
		}
	}
	for k, v := range cfg {
		if v.Secure() {
			secure = append(secure, k.String())
		}
	}
	sort.Strings(secure)
	return cfg, secure, nil
}

// writeConfig writes the test stack's settings file with cfg. Secret values
// of the template are ciphertext of the template's key: they are read
// through the template stack (which decrypts them) and set as secrets of the
// test stack (which encrypts them with its own key).
func (m *Manager) writeConfig(
	ctx context.Context, ws auto.Workspace, stack auto.Stack, name, from string, cfg config.Map, secure []string, tmpl *workspace.ProjectStack,
) error {
	// A fresh document keeps only the secrets provider's settings of the
	// existing file (written by stack init or restored from the last
	// deployment); every value is written anew.
	settings := &workspace.ProjectStack{Environment: tmpl.Environment}
	if _, ok := settingsFile(m.Source.Dir(), name); ok {
		old, err := ws.StackSettings(ctx, name)
		if err != nil {
			return err
		}
		settings.SecretsProvider = old.SecretsProvider
		settings.EncryptedKey = old.EncryptedKey
		settings.EncryptionSalt = old.EncryptionSalt
	}
	plain := config.Map{}
	for k, v := range cfg {
		if !v.Secure() {
			plain[k] = v
		}
	}
	settings.Config = plain
	if err := ws.SaveStackSettings(ctx, name, settings); err != nil {
		return err
	}
	for _, k := range secure {
		v, err := ws.GetConfig(ctx, from, k)
		if err != nil {
			return fmt.Errorf("reading secret %s of template stack %s: %w", k, from, err)
		}
		if err := stack.SetConfig(ctx, k, auto.ConfigValue{Value: v.Value, Secret: true}); err != nil {
			return fmt.Errorf("setting secret %s: %w", k, err)
		}
	}
	return nil
}

// template loads the template stack's settings file.
func (m *Manager) template(from string) (*workspace.ProjectStack, error) {
	dir := m.Source.Dir()
	if err := hasProject(dir); err != nil {
		return nil, err
	}
	var projectPath string
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if p := filepath.Join(dir, "Pulumi"+ext); fileExists(p) {
			projectPath = p
			break
		}
	}
	project, err := workspace.LoadProject(projectPath)
	if err != nil {
		return nil, err
	}
	path, ok := settingsFile(dir, from)
	if !ok {
		return nil, fmt.Errorf("template stack %s: %s not found", from, filepath.Join(dir, filepath.Base(path)))
	}
	ps, err := workspace.LoadProjectStack(nil, project, path)
	if err != nil {
		return nil, fmt.Errorf("template stack %s: %w", from, err)
	}
	return ps, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
