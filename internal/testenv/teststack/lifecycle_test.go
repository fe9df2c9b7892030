package teststack

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func outputString(t *testing.T, outs auto.OutputMap, key string) string {
	t.Helper()
	v, ok := outs[key]
	if !ok {
		t.Fatalf("output %s missing (have %v)", key, outs)
	}
	s, ok := v.Value.(string)
	if !ok {
		t.Fatalf("output %s = %#v, not a string", key, v.Value)
	}
	return s
}

// TestUpKeepsSuffix: the first up creates the stack from the template with
// the test overrides and a fresh suffix; later ups, also from a fresh
// checkout (no local stack file), keep the suffix and the creation time.
func TestUpKeepsSuffix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		noTags bool
	}{
		{"tags", false},
		{"config fallback", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			m := e.manager(t0)
			m.NoTags = tc.noTags
			first, err := m.Up(ctx, UpOptions{Name: "pr-7", From: "dev", TTL: 6 * time.Hour, Owner: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if !first.Created {
				t.Error("first up did not report a created stack")
			}
			suffix := first.Meta.Suffix
			if len(suffix) != SuffixLength || strings.Trim(suffix, suffixAlphabet) != "" {
				t.Errorf("suffix %q is not %d lowercase letters or digits", suffix, SuffixLength)
			}
			if got := outputString(t, first.Outputs, "nameSuffix"); got != suffix {
				t.Errorf("program saw nameSuffix %q, record says %q", got, suffix)
			}
			if got := outputString(t, first.Outputs, "protect"); got != "false" {
				t.Errorf("program saw protect %q, want the override false", got)
			}
			if got := outputString(t, first.Outputs, "region"); got != "asia-northeast1" {
				t.Errorf("program saw region %q, want the template's", got)
			}
			if got := outputString(t, first.Outputs, "worker"); !strings.Contains(got, `"maxInstances":1`) {
				t.Errorf("program saw worker %q, want the template's object", got)
			}

			tags, err := e.workspace().ListTags(ctx, "pr-7")
			if err != nil {
				t.Fatal(err)
			}
			if tc.noTags {
				if _, ok := tags[KeyCreated]; ok {
					t.Errorf("NoTags: tags were written: %v", tags)
				}
			} else {
				want := map[string]string{KeyCreated: "2030-01-02T03:04:05Z", KeyUpdated: "2030-01-02T03:04:05Z", KeyTTL: "6h0m0s", KeyOwner: "alice",
					KeyTemplate: "dev", TagSuffix: suffix}
				for k, v := range want {
					if tags[k] != v {
						t.Errorf("tag %s = %q, want %q", k, tags[k], v)
					}
				}
			}

			// A fresh checkout: no local stack file; a later clock and a new
			// owner. With tags, the suffix tag is gone too: the suffix comes
			// from the configuration of the last deployment.
			if !tc.noTags {
				if err := e.workspace().RemoveTag(ctx, "pr-7", TagSuffix); err != nil {
					t.Fatal(err)
				}
			}
			e.forgetLocal("pr-7")
			second, err := e.manager(t0.Add(3*time.Hour)).withTags(tc.noTags).Up(ctx, UpOptions{Name: "pr-7", From: "dev", Owner: "bob"})
			if err != nil {
				t.Fatal(err)
			}
			if second.Created {
				t.Error("second up reported a created stack")
			}
			if second.Meta.Suffix != suffix {
				t.Errorf("second up changed the suffix: %q then %q", suffix, second.Meta.Suffix)
			}
			if got := outputString(t, second.Outputs, "nameSuffix"); got != suffix {
				t.Errorf("second up: program saw nameSuffix %q, want %q", got, suffix)
			}
			if !second.Meta.Created.Equal(t0) || second.Meta.TTL != 6*time.Hour || second.Meta.Owner != "bob" {
				t.Errorf("second up record = %+v, want created %s, ttl 6h kept, owner bob", second.Meta, t0)
			}
			// Every up refreshes the record: the TTL runs from the last up.
			if !second.Meta.Updated.Equal(t0.Add(3 * time.Hour)) {
				t.Errorf("second up record updated %s, want %s", second.Meta.Updated, t0.Add(3*time.Hour))
			}
			got, err := e.manager(t0.Add(4*time.Hour)).readMeta(ctx, e.workspace(), "pr-7")
			if err != nil || !got.Updated.Equal(t0.Add(3*time.Hour)) || !got.Created.Equal(t0) {
				t.Errorf("record read back after the second up = %+v, %v; want created %s, updated 3h later", got, err, t0)
			}
			wantFrom := "tags"
			if tc.noTags {
				wantFrom = "config"
			}
			if second.Meta.From != wantFrom {
				t.Errorf("record read from %q, want %q", second.Meta.From, wantFrom)
			}
			if !tc.noTags {
				if tag, err := e.workspace().GetTag(ctx, "pr-7", TagSuffix); err != nil || tag != suffix {
					t.Errorf("suffix tag after the second up = %q, %v; want %q", tag, err, suffix)
				}
			}
		})
	}
}

func (m *Manager) withTags(noTags bool) *Manager { m.NoTags = noTags; return m }

// TestDestroyIsIdempotent: destroy removes the stack and its file; a second
// destroy of the missing stack succeeds.
func TestDestroyIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := e.manager(t0)
	if _, err := m.Up(ctx, UpOptions{Name: "pr-8", From: "dev"}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Destroy(ctx, "pr-8", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Missing || res.Meta == nil {
		t.Errorf("first destroy = %+v, want a destroyed test stack", res)
	}
	if e.stacks()["pr-8"] {
		t.Error("pr-8 still exists after destroy")
	}
	if _, ok := settingsFile(e.dir, "pr-8"); ok {
		t.Error("Pulumi.pr-8.yaml left behind")
	}
	res, err = m.Destroy(ctx, "pr-8", false)
	if err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	if !res.Missing {
		t.Errorf("second destroy = %+v, want Missing", res)
	}
}

// TestRefusals: protected names and stacks teststack did not create are
// never changed or destroyed.
func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.plainStack("pr-manual")
	m := e.manager(t0)

	for _, name := range []string{"dev", "prod", "org/prod", "PROD"} {
		if _, err := m.Up(ctx, UpOptions{Name: name, From: "dev"}); err == nil || !strings.Contains(err.Error(), "protected") {
			t.Errorf("up %s: err = %v, want protected", name, err)
		}
		if _, err := m.Destroy(ctx, name, true); err == nil || !strings.Contains(err.Error(), "protected") {
			t.Errorf("destroy --force %s: err = %v, want protected", name, err)
		}
	}
	_, err := m.Up(ctx, UpOptions{Name: "pr-manual", From: "dev"})
	var se *StepError
	if !errors.As(err, &se) || se.Stack != "pr-manual" || se.Step != "read metadata" || !strings.Contains(err.Error(), "not created by teststack") {
		t.Errorf("up of a stack without record: err = %v", err)
	}
	if _, err := m.Destroy(ctx, "pr-manual", false); err == nil || !strings.Contains(err.Error(), "not a test stack") {
		t.Errorf("destroy of a stack without record: err = %v", err)
	}
	if !e.stacks()["pr-manual"] {
		t.Fatal("pr-manual was removed")
	}
	if _, err := m.Up(ctx, UpOptions{Name: "pr-9", From: "staging"}); err == nil || !strings.Contains(err.Error(), "Pulumi.staging.yaml not found") {
		t.Errorf("up from a missing template: err = %v", err)
	}
	if e.stacks()["pr-9"] {
		t.Error("pr-9 was created although its template is missing")
	}
	// A configuration the program rejects never becomes a stack.
	var seen map[string]string
	m.Validate = func(_ context.Context, stack string, ps *workspace.ProjectStack) error {
		seen = map[string]string{"stack": stack}
		for k, v := range ps.Config {
			s, _ := v.Value(config.NopDecrypter)
			seen[k.String()] = s
		}
		return errors.New("asyncjobs:region: Invalid value")
	}
	_, err = m.Up(ctx, UpOptions{Name: "pr-10", From: "dev", Owner: "carol"})
	if !errors.As(err, &se) || se.Step != "validate configuration" || !strings.Contains(err.Error(), "asyncjobs:region") {
		t.Errorf("up with a rejected configuration: err = %v", err)
	}
	if seen["stack"] != "pr-10" || seen["asyncjobs:protect"] != "false" || seen["asyncjobs:region"] != "asia-northeast1" ||
		len(seen["asyncjobs:nameSuffix"]) != SuffixLength || seen[KeyOwner] != "carol" || seen[KeyCreated] != "2030-01-02T03:04:05Z" {
		t.Errorf("Validate saw %v", seen)
	}
	if e.stacks()["pr-10"] {
		t.Error("pr-10 was created although its configuration was rejected")
	}
	m.Validate = nil

	// --force destroys a stack without record.
	if _, err := m.Destroy(ctx, "pr-manual", true); err != nil {
		t.Fatalf("destroy --force: %v", err)
	}
	if e.stacks()["pr-manual"] {
		t.Error("pr-manual survived destroy --force")
	}
}
