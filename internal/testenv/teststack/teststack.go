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
//
// Manager's three operations have a file each (up.go, destroy.go,
// sweep.go); stackconfig.go reads and writes a stack's record and
// configuration through the workspace, and meta.go says what the record
// holds. providers.go refuses, before any of them touches a stack, a state
// that names provider plugins other than the pinned ones (a test stack's
// state is written by pull requests; the sweep runs on main).
package teststack

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

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
	// Pins, when set, are the only provider plugins a stack's state may
	// name: Up of an existing stack, Destroy and Sweep refuse any other
	// state before the engine reads it (see Pins).
	Pins Pins
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
