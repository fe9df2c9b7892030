// Package teststack runs the lifecycle of short-lived test stacks with the
// Pulumi Automation API: create or update a stack from a template stack's
// configuration with test overrides and a fresh name suffix, destroy and
// remove it, and sweep the ones that outlived their time-to-live.
//
// Every test stack carries a record (creation time, TTL, owner, template,
// name suffix) as stack tags and, as a fallback for backends without tags,
// as configuration keys under the teststack: namespace. A stack without a
// record is never changed or destroyed, and protected names (dev, prod) are
// refused whatever the flags.
package teststack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// Manager runs the test-stack lifecycle against one Source.
type Manager struct {
	Source Source
	// SuffixKey is the program's configuration key for the physical-name
	// suffix, e.g. asyncjobs:nameSuffix.
	SuffixKey string
	// Overrides are set on every test stack over the template's
	// configuration, e.g. asyncjobs:protect=false.
	Overrides map[string]config.Value
	// Protected stack names are never created, changed or destroyed.
	Protected []string
	// NoTags keeps the record in configuration only, for backends or CLIs
	// without stack tags.
	NoTags bool
	// Validate, when set, checks the test stack's configuration (secret
	// values still encrypted with the template's key) before the stack is
	// created or changed.
	Validate func(ctx context.Context, stack string, settings *workspace.ProjectStack) error
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Rand is the source of name suffixes (crypto/rand when nil).
	Rand io.Reader
	// Log receives step messages and the engine's output (io.Discard when nil).
	Log io.Writer
}

// StepError names the stack and the step that failed.
type StepError struct {
	Stack string
	Step  string
	Err   error
}

func (e *StepError) Error() string { return fmt.Sprintf("stack %s: %s: %v", e.Stack, e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

func stepErr(stack, step string, err error) error {
	if err == nil {
		return nil
	}
	return &StepError{Stack: stack, Step: step, Err: err}
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) log() io.Writer {
	if m.Log == nil {
		return io.Discard
	}
	return m.Log
}

func (m *Manager) logf(stack, format string, args ...any) {
	fmt.Fprintf(m.log(), "teststack: %s: %s\n", stack, fmt.Sprintf(format, args...))
}

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
	ws, err := m.Source.Workspace(ctx)
	if err != nil {
		return nil, stepErr(name, "open workspace", err)
	}
	_, exists, err := findStack(ctx, ws, name)
	if err != nil {
		return nil, stepErr(name, "list stacks", err)
	}

	var meta Meta
	if exists {
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
	ws, err := m.Source.Workspace(ctx)
	if err != nil {
		return nil, stepErr(name, "open workspace", err)
	}
	full, exists, err := findStack(ctx, ws, name)
	if err != nil {
		return nil, stepErr(name, "list stacks", err)
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
		return nil, stepErr(name, "read metadata", fmt.Errorf("not a test stack (%v); refusing to destroy it (use --force for a stack teststack did not create)", err))
	default:
		return nil, stepErr(name, "read metadata", err)
	}
	if err := m.destroy(ctx, ws, full); err != nil {
		return nil, err
	}
	return res, nil
}

// destroy destroys and removes one stack.
func (m *Manager) destroy(ctx context.Context, ws auto.Workspace, name string) error {
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

// SweepOptions are the arguments of Sweep.
type SweepOptions struct {
	// Prefix selects the test stacks whose names start with it.
	Prefix string
	// Name, instead of Prefix, selects one stack (the scheduled workflow
	// sweeps each stack in its own job, in the stack's concurrency group).
	Name string
	// OlderThan is the limit for a record without a TTL (zero: such a
	// stack is kept). It never overrides a recorded TTL: every stack
	// expires when its own TTL has passed since its last up.
	OlderThan time.Duration
	DryRun    bool
}

// Results of a sweep, per stack.
const (
	Destroyed    = "destroyed"
	WouldDestroy = "would destroy"
	Kept         = "kept"
	Skipped      = "skipped"
	Failed       = "FAILED"
	// Locked: the stack's state is locked, by an update running elsewhere
	// or (more likely, as the workflows never run two jobs on one test
	// stack at once) by a job that was killed. The outcome says how to
	// clear it; the sweep goes on with the other stacks.
	Locked = "LOCKED"
)

// Outcome is what a sweep did with one stack.
type Outcome struct {
	Stack  string
	Result string
	Detail string
	Meta   *Meta
	// Age is the time since the stack's last up (its creation for an old
	// record); Limit is the TTL it is measured against.
	Age   time.Duration
	Limit time.Duration
	Err   error
}

// SweepReport lists every stack under the prefix and what happened to it.
type SweepReport struct {
	Prefix    string
	Name      string
	DryRun    bool
	Outcomes  []Outcome
	Outside   int
	Protected []string
}

// Failed returns the outcomes that failed (a locked stack included).
func (r *SweepReport) Failed() []Outcome {
	var out []Outcome
	for _, o := range r.Outcomes {
		if o.Result == Failed || o.Result == Locked {
			out = append(out, o)
		}
	}
	return out
}

// Count returns how many stacks had the given result.
func (r *SweepReport) Count(result string) int {
	n := 0
	for _, o := range r.Outcomes {
		if o.Result == result {
			n++
		}
	}
	return n
}

// Sweep destroys and removes every expired test stack whose name starts with
// the prefix. It never touches other stacks, protected names or stacks
// without a test record, keeps going when a destroy fails and reports every
// outcome; the error is non-nil when any stack failed.
func (m *Manager) Sweep(ctx context.Context, opts SweepOptions) (*SweepReport, error) {
	switch {
	case opts.Name != "" && opts.Prefix != "":
		return nil, errors.New("sweep: give a prefix or a stack name, not both")
	case opts.Name != "":
		if err := ValidateName(opts.Name, m.Protected); err != nil {
			return nil, err
		}
	default:
		if err := ValidatePrefix(opts.Prefix, m.Protected); err != nil {
			return nil, err
		}
	}
	if opts.OlderThan < 0 {
		return nil, fmt.Errorf("older-than %s: must not be negative", opts.OlderThan)
	}
	ws, err := m.Source.Workspace(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep: open workspace: %w", err)
	}
	stacks, err := ws.ListStacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep: list stacks: %w", err)
	}
	sort.Slice(stacks, func(i, j int) bool { return stacks[i].Name < stacks[j].Name })
	now := m.now()
	report := &SweepReport{Prefix: opts.Prefix, Name: opts.Name, DryRun: opts.DryRun, Protected: m.Protected}
	for _, s := range stacks {
		selected := strings.HasPrefix(shortName(s.Name), opts.Prefix)
		if opts.Name != "" {
			selected = s.Name == opts.Name || shortName(s.Name) == shortName(opts.Name)
		}
		if !selected {
			report.Outside++
			continue
		}
		o := Outcome{Stack: s.Name}
		if err := ValidateName(s.Name, m.Protected); err != nil {
			o.Result, o.Detail = Skipped, err.Error()
			report.Outcomes = append(report.Outcomes, o)
			continue
		}
		o = m.sweepOne(ctx, ws, s.Name, now, opts)
		report.Outcomes = append(report.Outcomes, o)
	}
	if failed := report.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, o := range failed {
			names[i] = o.Stack
		}
		return report, fmt.Errorf("sweep: %d of %d stacks failed: %s", len(failed), len(report.Outcomes), strings.Join(names, ", "))
	}
	return report, nil
}

// sweepOne decides about one stack under the prefix and destroys it when it
// has expired.
func (m *Manager) sweepOne(ctx context.Context, ws auto.Workspace, name string, now time.Time, opts SweepOptions) (o Outcome) {
	o.Stack = name
	// Reading the record may restore the stack's settings file from its
	// last deployment; a stack that stays gets no file left behind.
	if _, had := settingsFile(m.Source.Dir(), name); !had {
		defer func() {
			if p, ok := settingsFile(m.Source.Dir(), name); ok && o.Result != Destroyed {
				_ = os.Remove(p)
			}
		}()
	}
	meta, err := m.readMeta(ctx, ws, name)
	switch {
	case errors.Is(err, errNoMeta):
		o.Result, o.Detail = Skipped, "not a test stack: "+err.Error()
		return o
	case err != nil:
		o.Result, o.Err = Failed, stepErr(name, "read metadata", err)
		o.Detail = o.Err.Error()
		return o
	}
	o.Meta = &meta
	o.Age = meta.Idle(now)
	o.Limit = meta.Limit(opts.OlderThan)
	switch {
	case !meta.Expired(now, opts.OlderThan):
		o.Result = Kept
	case opts.DryRun:
		o.Result = WouldDestroy
	default:
		if err := m.destroy(ctx, ws, name); err != nil {
			o.Result, o.Err, o.Detail = Failed, err, err.Error()
			var le *LockedError
			if errors.As(err, &le) {
				o.Result = Locked
			}
			m.logf(name, "%s: %v (continuing with the other stacks)", o.Result, err)
		} else {
			o.Result = Destroyed
		}
	}
	return o
}

// LockedError is an update or destroy refused because the stack's state is
// locked. Its message names the stack and how to clear a stale lock.
type LockedError struct {
	Stack string
	Err   error
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("the state of stack %s is locked: %s\n"+
		"A lock is left behind when a job is killed during an update. If no job is running on %s "+
		"(the workflows run one job per test stack at a time), clear it with\n"+
		"    pulumi cancel --stack %s --yes\n"+
		"(on a gs:// or file:// backend this deletes the stack's lock files), then run the job again",
		e.Stack, lockLine(e.Err), e.Stack, shortName(e.Stack))
}

// lockLine is the CLI's line about the lock (the first line of the error
// is only the exit status).
func lockLine(err error) string {
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "locked") || strings.Contains(line, "in progress") {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "stderr:"))
		}
	}
	return firstLine(err)
}

func (e *LockedError) Unwrap() error { return e.Err }

// lockHint turns the CLI's lock refusal into a LockedError.
func lockHint(stack string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "currently locked") || strings.Contains(msg, "conflict: Another update is currently in progress") {
		return &LockedError{Stack: stack, Err: err}
	}
	return err
}

// findStack looks a stack up in the backend; names may be qualified on
// either side.
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
func (m *Manager) writeConfig(ctx context.Context, ws auto.Workspace, stack auto.Stack, name, from string, cfg config.Map, secure []string, tmpl *workspace.ProjectStack) error {
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

func firstLine(err error) string {
	if err == nil {
		return "no error"
	}
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
