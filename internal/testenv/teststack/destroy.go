package teststack

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
)

// DestroyResult says what Destroy did.
type DestroyResult struct {
	Name string
	// Missing is true when there was no such stack (nothing to do).
	Missing bool
	// Meta is the record of the destroyed stack, when it had one.
	Meta *Meta
}

// Destroy destroys the test stack's resources and removes the stack. A
// missing stack is success. A stack without a test record is refused unless
// force is set; a protected name is always refused.
func (m *Manager) Destroy(ctx context.Context, name string, force bool) (*DestroyResult, error) {
	if err := ValidateName(name, m.Protected); err != nil {
		return nil, err
	}
	ws, full, exists, err := m.openStack(ctx, name)
	if err != nil {
		return nil, err
	}
	if !exists {
		m.logf(name, "no such stack; nothing to destroy")
		return &DestroyResult{Name: name, Missing: true}, nil
	}
	res := &DestroyResult{Name: name}
	meta, err := m.readMeta(ctx, ws, full)
	switch {
	case err == nil:
		res.Meta = &meta
	case errors.Is(err, errNoMeta) && force:
		m.logf(name, "no teststack record (%v); destroying anyway (--force)", err)
	case errors.Is(err, errNoMeta):
		return nil, stepErr(name, "read metadata",
			fmt.Errorf("not a test stack (%v); refusing to destroy it (use --force for a stack teststack did not create)", err))
	default:
		return nil, stepErr(name, "read metadata", err)
	}
	if err := m.destroy(ctx, ws, full); err != nil {
		return nil, err
	}
	return res, nil
}

// destroy destroys and removes one stack, unless its state names provider
// plugins other than the pinned ones.
func (m *Manager) destroy(ctx context.Context, ws auto.Workspace, name string) error {
	if err := m.checkProviders(ctx, ws, name); err != nil {
		return err
	}
	stack, err := auto.SelectStack(ctx, name, ws)
	if err != nil {
		return stepErr(name, "select stack", err)
	}
	_ = m.restoreSettings(ctx, ws, name) // best effort: destroy works without it
	m.logf(name, "pulumi destroy --remove")
	progress := newPrefixWriter(m.log(), "["+shortName(name)+"] ")
	progress.drop = removeHints
	defer progress.Flush()
	_, err = stack.Destroy(ctx,
		optdestroy.Remove(),
		optdestroy.ProgressStreams(progress),
		optdestroy.ErrorProgressStreams(progress),
		optdestroy.Message("teststack destroy "+name),
	)
	if err != nil {
		return stepErr(name, "destroy", lockHint(name, err))
	}
	// destroy --remove deletes the stack's settings file; make sure a
	// leftover one never seeds a later stack of the same name.
	if p, ok := settingsFile(m.Source.Dir(), name); ok {
		if err := os.Remove(p); err != nil {
			return stepErr(name, "remove settings file", err)
		}
	}
	m.logf(name, "destroyed and removed")
	return nil
}
