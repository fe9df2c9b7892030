package stacks

import (
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/program/actas"
)

// TestChooseGate: a deployment by the real engine (no preview, no mocks),
// which is how main.go runs Program, gets the real gate, configured from
// the environment; a preview or the SDK's mocks get none.
func TestChooseGate(t *testing.T) {
	env := map[string]string{actas.IntervalEnv: "250ms"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name           string
		preview, mocks bool
		real           bool
	}{
		{"pulumi up", false, false, true},
		{"pulumi preview", true, false, false},
		{"recorded deployment (mocks)", false, true, false},
		{"recorded preview (mocks)", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate, err := chooseGate(tc.preview, tc.mocks, getenv, actas.Provider{}, func(string) {})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.real {
				if gate != nil {
					t.Errorf("gate %#v, want none", gate)
				}
				return
			}
			c, ok := gate.(*actas.Checker)
			if !ok {
				t.Fatalf("gate %T, want the real *actas.Checker", gate)
			}
			if c.Interval.String() != "250ms" || c.DeployersKey != "asyncjobs:deployers" || c.Log == nil {
				t.Errorf("checker not configured: interval %s, key %q, log %v", c.Interval, c.DeployersKey, c.Log != nil)
			}
		})
	}
	env[actas.EndpointEnv] = "https://iam.example.com"
	if _, err := chooseGate(false, false, getenv, actas.Provider{}, nil); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a remote unauthenticated endpoint was accepted: %v", err)
	}
}
