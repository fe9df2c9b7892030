// Package plantest has the assertions tests make on recorded plans. Every
// helper fails the test when the thing it looks for is missing, so an
// assertion can never pass by not running.
package plantest

import (
	"reflect"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// Find returns the resource or fails the test.
func Find(t testing.TB, p *recorder.Plan, typ, name string) *recorder.Resource {
	t.Helper()
	r := p.Find(typ, name)
	if r == nil {
		var names []string
		for _, x := range p.ByType(typ) {
			names = append(names, x.Name)
		}
		t.Fatalf("no %s named %s in the plan (have %v)", typ, name, names)
	}
	return r
}

// Input asserts one input of a resource.
func Input(t testing.TB, r *recorder.Resource, path string, want any) {
	t.Helper()
	got, ok := r.Input(path)
	if !ok {
		t.Errorf("%s %s: input %s missing, want %#v", r.Type, r.Name, path, want)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s %s: input %s = %#v, want %#v", r.Type, r.Name, path, got, want)
	}
}

// Inputs asserts several inputs.
func Inputs(t testing.TB, r *recorder.Resource, want map[string]any) {
	t.Helper()
	for path, v := range want {
		Input(t, r, path, v)
	}
}

// Absent asserts that an input is not set.
func Absent(t testing.TB, r *recorder.Resource, path string) {
	t.Helper()
	if v, ok := r.Input(path); ok && v != nil {
		t.Errorf("%s %s: input %s = %#v, want it unset", r.Type, r.Name, path, v)
	}
}

// ReplacedWith asserts that r is re-created whenever owner is replaced.
func ReplacedWith(t testing.TB, r, owner *recorder.Resource) {
	t.Helper()
	for _, u := range r.ReplaceWith {
		if u == owner.URN {
			return
		}
	}
	t.Errorf("%s %s is not replaced with %s %s (replaceWith %v)", r.Type, r.Name, owner.Type, owner.Name, r.ReplaceWith)
}

// ChildOf asserts the parent of r.
func ChildOf(t testing.TB, r, parent *recorder.Resource) {
	t.Helper()
	if r.Parent != parent.URN {
		t.Errorf("%s %s: parent %s, want %s", r.Type, r.Name, r.Parent, parent.URN)
	}
}
