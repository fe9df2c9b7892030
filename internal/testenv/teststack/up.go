package teststack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// UpOptions are the arguments of Up.
type UpOptions struct {
	Name string
	// From is the template stack whose Pulumi.<from>.yaml is copied.
	From string
	// TTL is recorded as the stack's time-to-live; zero keeps the recorded
	// one (DefaultTTL for a new stack).
	TTL time.Duration
	// Owner is recorded as the stack's owner; empty keeps the recorded one.
	Owner string
}

// UpResult says what Up did.
type UpResult struct {
	Name    string
	Created bool
	Meta    Meta
	Outputs auto.OutputMap
}

// Up creates the test stack from the template, or updates it, and deploys it.
// A new stack gets a fresh name suffix; an existing one keeps its own.
func (m *Manager) Up(ctx context.Context, opts UpOptions) (*UpResult, error) {
	name := opts.Name
	if err := ValidateName(name, m.Protected); err != nil {
		return nil, err
	}
	if opts.From == "" {
		return nil, errors.New("no template stack: pass --from (e.g. --from dev)")
	}
	if shortName(name) == shortName(opts.From) {
		return nil, fmt.Errorf("stack %s: a test stack cannot be its own template", name)
	}
	if err := ValidateTTL(opts.TTL); err != nil {
		return nil, err
	}
	if err := ValidateOwner(opts.Owner); err != nil {
		return nil, err
	}
	if m.SuffixKey == "" {
		return nil, errors.New("teststack: Manager.SuffixKey is not set")
	}
	tmpl, err := m.template(opts.From)
	if err != nil {
		return nil, stepErr(name, "read template", err)
	}
	ws, _, exists, err := m.openStack(ctx, name)
	if err != nil {
		return nil, err
	}

	var meta Meta
	if exists {
		// Before anything of the stack is read or changed: its state may
		// name a plugin the update would load.
		if err := m.checkProviders(ctx, ws, name); err != nil {
			return nil, err
		}
		_ = m.restoreSettings(ctx, ws, name) // best effort; readMeta reports what is missing
		meta, err = m.readMeta(ctx, ws, name)
		if errors.Is(err, errNoMeta) {
			return nil, stepErr(name, "read metadata", fmt.Errorf("the stack exists but was not created by teststack (%v); refusing to change it", err))
		}
		if err != nil {
			return nil, stepErr(name, "read metadata", err)
		}
		if meta.Suffix == "" {
			// Never deploy a test stack without its suffix: its physical
			// names would be the template's.
			return nil, stepErr(name, "read metadata", errors.New("the record has no name suffix; destroy the stack and create it again"))
		}
		if opts.TTL > 0 {
			meta.TTL = opts.TTL
		}
		if opts.Owner != "" {
			meta.Owner = opts.Owner
		}
		meta.Template = opts.From
		// The TTL runs from the last up: a stack in use never expires.
		meta.Updated = m.now().Truncate(time.Second)
		m.logf(name, "updating from template %s (created %s, ttl %s from now, name suffix %s, record from %s)",
			opts.From, meta.Created.Format(time.RFC3339), meta.TTL, meta.Suffix, meta.From)
	} else {
		suffix, err := newSuffix(m.Rand)
		if err != nil {
			return nil, stepErr(name, "generate name suffix", err)
		}
		ttl := opts.TTL
		if ttl == 0 {
			ttl = DefaultTTL
		}
		now := m.now().Truncate(time.Second)
		meta = Meta{Created: now, Updated: now, TTL: ttl, Owner: opts.Owner, Template: opts.From, Suffix: suffix}
		m.logf(name, "creating from template %s (ttl %s, name suffix %s)", opts.From, meta.TTL, meta.Suffix)
	}

	cfg, secure, err := m.testConfig(tmpl, meta)
	if err != nil {
		return nil, stepErr(name, "build configuration", err)
	}
	if m.Validate != nil {
		// Before anything is created: a configuration the program would
		// reject never becomes a stack.
		check := &workspace.ProjectStack{Config: cfg, Environment: tmpl.Environment}
		if err := m.Validate(ctx, shortName(name), check); err != nil {
			return nil, stepErr(name, "validate configuration", err)
		}
	}

	stack, err := m.Source.Stack(ctx, name)
	if err != nil {
		return nil, stepErr(name, "create or select stack", err)
	}
	// The record goes first, so that a stack left behind by an interrupted
	// run is still recognised (and swept) as a test stack.
	m.writeTags(ctx, ws, name, meta)
	if err := m.writeConfig(ctx, ws, stack, name, opts.From, cfg, secure, tmpl); err != nil {
		return nil, stepErr(name, "write configuration", err)
	}

	m.logf(name, "pulumi up")
	progress := newPrefixWriter(m.log(), "["+shortName(name)+"] ")
	defer progress.Flush()
	res, err := stack.Up(ctx,
		optup.ProgressStreams(progress),
		optup.ErrorProgressStreams(progress),
		optup.Message(fmt.Sprintf("teststack up %s from %s", name, opts.From)),
	)
	if err != nil {
		return nil, stepErr(name, "up", lockHint(name, err))
	}
	return &UpResult{Name: name, Created: !exists, Meta: meta, Outputs: res.Outputs}, nil
}

// suffixAlphabet is what asyncjobs:nameSuffix allows: lowercase letters and digits.
const suffixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// SuffixLength is the length of generated name suffixes: 36^6 (about 2e9)
// values, and short enough to leave room in Google's name limits.
const SuffixLength = 6

// newSuffix draws a suffix uniformly from suffixAlphabet.
func newSuffix(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	out := make([]byte, 0, SuffixLength)
	buf := make([]byte, 1)
	for len(out) < SuffixLength {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		// Reject the top of the byte range so every character is equally likely.
		if int(buf[0]) >= 256/len(suffixAlphabet)*len(suffixAlphabet) {
			continue
		}
		out = append(out, suffixAlphabet[int(buf[0])%len(suffixAlphabet)])
	}
	return string(out), nil
}
