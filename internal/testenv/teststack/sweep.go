package teststack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

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
