package teststack

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

func outcomes(r *SweepReport) map[string]string {
	out := map[string]string{}
	for _, o := range r.Outcomes {
		out[o.Stack] = o.Result
	}
	return out
}

func keys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// TestSweep creates test stacks of different ages and prefixes next to
// dev/prod-like stacks and a stack without record, then sweeps: exactly the
// test stacks under the prefix whose own TTL has passed since their last up
// go (--older-than overrides no recorded TTL), a locked stack is reported
// with how to clear the lock while the others are still swept, the hint
// works, and a repeated sweep is a no-op.
func TestSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := t0.Add(72 * time.Hour)

	up := func(name string, at time.Time, ttl time.Duration) {
		t.Helper()
		if _, err := e.manager(at).Up(ctx, UpOptions{Name: name, From: "dev", TTL: ttl, Owner: "ci"}); err != nil {
			t.Fatal(err)
		}
	}
	up("pr-1", now.Add(-48*time.Hour), 24*time.Hour) // expired
	up("pr-2", now.Add(-30*time.Hour), 24*time.Hour) // expired, but a killed job left its lock
	up("pr-3", now.Add(-1*time.Hour), 24*time.Hour)  // young
	up("pr-4", now.Add(-10*time.Hour), 2*time.Hour)  // expired by its own TTL
	up("pr-5", now.Add(-48*time.Hour), 72*time.Hour) // old, but its own TTL is 72h
	up("pr-6", now.Add(-48*time.Hour), 24*time.Hour) // old, but still in use:
	up("pr-6", now.Add(-1*time.Hour), 0)             // updated an hour ago, TTL kept
	up("qa-1", now.Add(-48*time.Hour), 24*time.Hour) // expired, other prefix
	e.plainStack("dev")
	e.plainStack("prod")
	e.plainStack("pr-manual") // under the prefix, no record

	// pr-4's record survives without tags and without the local file: read
	// back from the configuration of its last deployment.
	ws := e.workspace()
	for _, k := range []string{KeyCreated, KeyUpdated, KeyTTL, KeyOwner, KeyTemplate, TagSuffix} {
		if err := ws.RemoveTag(ctx, "pr-4", k); err != nil {
			t.Fatal(err)
		}
	}
	e.forgetLocal("pr-4")
	for _, name := range []string{"pr-1", "pr-2", "pr-3", "pr-5", "pr-6", "qa-1"} {
		e.forgetLocal(name) // a fresh checkout, as in the scheduled workflow
	}
	e.lock("pr-2")

	m := e.manager(now)

	// --older-than is only the limit of records without a TTL: every
	// record here has one, so it changes nothing.
	report, err := m.Sweep(ctx, SweepOptions{Prefix: "pr-", OlderThan: time.Hour, DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	want := map[string]string{"pr-1": WouldDestroy, "pr-2": WouldDestroy, "pr-3": Kept, "pr-4": WouldDestroy,
		"pr-5": Kept, "pr-6": Kept, "pr-manual": Skipped}
	if got := outcomes(report); !reflect.DeepEqual(got, want) {
		t.Errorf("dry run --older-than 1h: %v, want %v", got, want)
	}
	if report.Outside != 3 {
		t.Errorf("dry run: %d stacks outside the prefix, want 3 (dev, prod, qa-1)", report.Outside)
	}
	for _, o := range report.Outcomes {
		switch o.Stack {
		case "pr-5":
			if o.Limit != 72*time.Hour || o.Age != 48*time.Hour {
				t.Errorf("pr-5: limit %s, age %s; want its own 72h TTL and 48h since its up", o.Limit, o.Age)
			}
		case "pr-6":
			if o.Limit != 24*time.Hour || o.Age != time.Hour || o.Meta == nil || !o.Meta.Created.Equal(now.Add(-48*time.Hour)) {
				t.Errorf("pr-6: %+v; want 1h since its last up, 24h TTL, created 48h ago", o)
			}
		}
	}

	// By TTL, for real.
	report, err = m.Sweep(ctx, SweepOptions{Prefix: "pr-"})
	if err == nil || !strings.Contains(err.Error(), "pr-2") {
		t.Errorf("sweep with a locked stack: err = %v, want one naming pr-2", err)
	}
	want = map[string]string{"pr-1": Destroyed, "pr-2": Locked, "pr-3": Kept, "pr-4": Destroyed,
		"pr-5": Kept, "pr-6": Kept, "pr-manual": Skipped}
	if got := outcomes(report); !reflect.DeepEqual(got, want) {
		t.Errorf("sweep: %v, want %v", got, want)
	}
	for _, o := range report.Failed() {
		var le *LockedError
		if !errors.As(o.Err, &le) || le.Stack != "pr-2" ||
			!strings.Contains(o.Err.Error(), "stack pr-2 is locked") ||
			!strings.Contains(o.Err.Error(), "pulumi cancel --stack pr-2 --yes") ||
			!strings.Contains(o.Err.Error(), "currently locked by 1 lock(s)") {
			t.Errorf("failure of %s = %v, want a lock error naming pr-2, the CLI's reason and the command that clears it", o.Stack, o.Err)
		}
	}
	for _, o := range report.Outcomes {
		if o.Stack == "pr-4" && (o.Meta == nil || o.Meta.From != "config" || o.Limit != 2*time.Hour) {
			t.Errorf("pr-4 outcome %+v: want a record from config with its 2h TTL", o)
		}
	}
	if _, ok := settingsFile(e.dir, "pr-3"); ok {
		t.Error("the sweep left a restored Pulumi.pr-3.yaml behind")
	}
	wantStacks := []string{"dev", "pr-2", "pr-3", "pr-5", "pr-6", "pr-manual", "prod", "qa-1"}
	if got := keys(e.stacks()); !reflect.DeepEqual(got, wantStacks) {
		t.Errorf("after the sweep: stacks %v, want %v", got, wantStacks)
	}

	// The command the message names clears the stale lock on this backend.
	e.cli("cancel", "--stack", "pr-2", "--yes")

	// One stack by name (as the workflow's per-stack jobs sweep): the
	// others are outside.
	report, err = m.Sweep(ctx, SweepOptions{Name: "pr-2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(report); !reflect.DeepEqual(got, map[string]string{"pr-2": Destroyed}) || report.Outside != 7 {
		t.Errorf("sweep --name pr-2: %v, %d outside; want pr-2 destroyed, 7 outside", got, report.Outside)
	}
	if _, err := m.Sweep(ctx, SweepOptions{Name: "pr-3", Prefix: "pr-"}); err == nil {
		t.Error("a sweep with both a name and a prefix was accepted")
	}
	if _, err := m.Sweep(ctx, SweepOptions{Name: "prod"}); err == nil {
		t.Error("sweep --name prod was accepted")
	}
	report, err = m.Sweep(ctx, SweepOptions{Prefix: "pr-"})
	if err != nil {
		t.Fatal(err)
	}
	if n := report.Count(Destroyed) + report.Count(WouldDestroy) + report.Count(Failed) + report.Count(Locked); n != 0 {
		t.Errorf("third sweep acted on %d stacks: %v", n, outcomes(report))
	}
	wantStacks = []string{"dev", "pr-3", "pr-5", "pr-6", "pr-manual", "prod", "qa-1"}
	if got := keys(e.stacks()); !reflect.DeepEqual(got, wantStacks) {
		t.Errorf("after the third sweep: stacks %v, want %v", got, wantStacks)
	}

	// An up of a stack a killed job left locked stops at once with the
	// same message, and works once the lock is cleared.
	e.lock("pr-3")
	_, err = e.manager(now).Up(ctx, UpOptions{Name: "pr-3", From: "dev"})
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "pulumi cancel --stack pr-3 --yes") {
		t.Errorf("up of a locked stack: err = %v, want a LockedError naming the command", err)
	}
	e.cli("cancel", "--stack", "pr-3", "--yes")
	if _, err := e.manager(now).Up(ctx, UpOptions{Name: "pr-3", From: "dev"}); err != nil {
		t.Errorf("up after pulumi cancel: %v", err)
	}

	// Prefixes that could reach dev or prod are refused before anything is listed.
	for _, p := range []string{"", "d", "p", "pr", "de", "prod", "dev-x", "../"} {
		if _, err := m.Sweep(ctx, SweepOptions{Prefix: p}); err == nil {
			t.Errorf("sweep --prefix %q was accepted", p)
		}
	}
}

// TestTemplateSecrets: a secret of the template stack is decrypted through
// the template stack and stored as a secret of the test stack.
func TestTemplateSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	dev, err := e.source().Stack(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.SetConfig(ctx, "asyncjobs:token", auto.ConfigValue{Value: "s3cr3t-value", Secret: true}); err != nil {
		t.Fatal(err)
	}
	res, err := e.manager(t0).Up(ctx, UpOptions{Name: "pr-5", From: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := res.Outputs["token"]
	if !ok || tok.Value != "s3cr3t-value" || !tok.Secret {
		t.Errorf("program output token = %+v, want the template's secret, still secret", tok)
	}
	v, err := e.workspace().GetConfig(ctx, "pr-5", "asyncjobs:token")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Secret || v.Value != "s3cr3t-value" {
		t.Errorf("pr-5 asyncjobs:token = %+v, want the secret", v)
	}
	p, _ := settingsFile(e.dir, "pr-5")
	if b := readFile(t, p); strings.Contains(b, "s3cr3t-value") || !strings.Contains(b, "secure:") {
		t.Errorf("Pulumi.pr-5.yaml does not hold the secret encrypted:\n%s", b)
	}
}
