package teststack

import (
	"context"
	"errors"
	"reflect"
	"sort"
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

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestSweep creates test stacks of different ages and prefixes next to
// dev/prod-like stacks and a stack without record, then sweeps: exactly the
// expired test stacks under the prefix go, a failing destroy is reported
// while the others are still swept, and a repeated sweep is a no-op.
func TestSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := t0.Add(72 * time.Hour)

	up := func(name string, created time.Time, ttl time.Duration) {
		t.Helper()
		if _, err := e.manager(created).Up(ctx, UpOptions{Name: name, From: "dev", TTL: ttl, Owner: "ci"}); err != nil {
			t.Fatal(err)
		}
	}
	up("pr-1", now.Add(-48*time.Hour), 24*time.Hour) // expired
	up("pr-2", now.Add(-30*time.Hour), 24*time.Hour) // expired, but its destroy fails
	up("pr-3", now.Add(-1*time.Hour), 24*time.Hour)  // young
	up("pr-4", now.Add(-10*time.Hour), 2*time.Hour)  // expired by its own TTL
	up("qa-1", now.Add(-48*time.Hour), 24*time.Hour) // expired, other prefix
	e.plainStack("dev")
	e.plainStack("prod")
	e.plainStack("pr-manual") // under the prefix, no record

	// pr-4's record survives without tags and without the local file: read
	// back from the configuration of its last deployment.
	ws := e.workspace()
	for _, k := range []string{KeyCreated, KeyTTL, KeyOwner, KeyTemplate, TagSuffix} {
		if err := ws.RemoveTag(ctx, "pr-4", k); err != nil {
			t.Fatal(err)
		}
	}
	e.forgetLocal("pr-4")
	for _, name := range []string{"pr-1", "pr-2", "pr-3", "qa-1"} {
		e.forgetLocal(name) // a fresh checkout, as in the scheduled workflow
	}
	unlock := e.lock("pr-2")

	m := e.manager(now)

	// --older-than: the recorded TTLs do not matter.
	report, err := m.Sweep(ctx, SweepOptions{Prefix: "pr-", OlderThan: 24 * time.Hour, DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	want := map[string]string{"pr-1": WouldDestroy, "pr-2": WouldDestroy, "pr-3": Kept, "pr-4": Kept, "pr-manual": Skipped}
	if got := outcomes(report); !reflect.DeepEqual(got, want) {
		t.Errorf("dry run --older-than 24h: %v, want %v", got, want)
	}
	if report.Outside != 3 {
		t.Errorf("dry run: %d stacks outside the prefix, want 3 (dev, prod, qa-1)", report.Outside)
	}

	// By TTL, for real.
	report, err = m.Sweep(ctx, SweepOptions{Prefix: "pr-"})
	if err == nil || !strings.Contains(err.Error(), "pr-2") {
		t.Errorf("sweep with a failing destroy: err = %v, want one naming pr-2", err)
	}
	want = map[string]string{"pr-1": Destroyed, "pr-2": Failed, "pr-3": Kept, "pr-4": Destroyed, "pr-manual": Skipped}
	if got := outcomes(report); !reflect.DeepEqual(got, want) {
		t.Errorf("sweep: %v, want %v", got, want)
	}
	for _, o := range report.Failed() {
		var se *StepError
		if !errors.As(o.Err, &se) || se.Stack != "pr-2" || se.Step != "destroy" || !strings.Contains(o.Err.Error(), "locked") {
			t.Errorf("failure of %s = %v, want a destroy step error of pr-2 about the lock", o.Stack, o.Err)
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
	wantStacks := []string{"dev", "pr-2", "pr-3", "pr-manual", "prod", "qa-1"}
	if got := keys(e.stacks()); !reflect.DeepEqual(got, wantStacks) {
		t.Errorf("after the sweep: stacks %v, want %v", got, wantStacks)
	}

	// The lock is gone: the next sweep takes pr-2, the one after finds nothing.
	unlock()
	report, err = m.Sweep(ctx, SweepOptions{Prefix: "pr-"})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(report)["pr-2"]; got != Destroyed {
		t.Errorf("second sweep: pr-2 %s, want destroyed", got)
	}
	report, err = m.Sweep(ctx, SweepOptions{Prefix: "pr-"})
	if err != nil {
		t.Fatal(err)
	}
	if n := report.Count(Destroyed) + report.Count(WouldDestroy) + report.Count(Failed); n != 0 {
		t.Errorf("third sweep acted on %d stacks: %v", n, outcomes(report))
	}
	wantStacks = []string{"dev", "pr-3", "pr-manual", "prod", "qa-1"}
	if got := keys(e.stacks()); !reflect.DeepEqual(got, wantStacks) {
		t.Errorf("after the third sweep: stacks %v, want %v", got, wantStacks)
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
