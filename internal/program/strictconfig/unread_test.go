package strictconfig

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

type unreadLeaf struct {
	Min    int    `json:"min"`
	Max    int    `json:"max"`
	Unread Unread `json:"-"`
}

type unreadItem struct {
	Name   string            `json:"name"`
	Leaf   unreadLeaf        `json:"leaf"`
	Ptr    *unreadLeaf       `json:"ptr"`
	Tags   map[string]string `json:"tags"`
	Unread Unread            `json:"-"`
}

type unreadRoot struct {
	Region string       `json:"region"`
	Count  int          `json:"count"`
	Items  []unreadItem `json:"items"`
	Unread Unread       `json:"-"`
}

// TestDecodeMarksUnread: every value that does not decode is recorded in
// the Unread set of the struct that holds its key; a problem inside a list
// item marks the item's own struct, a whole item or a map entry the key
// holding the list or map; values that decode mark nothing.
func TestDecodeMarksUnread(t *testing.T) {
	src := map[string]string{
		"ns:count": `"three"`,
		"ns:items": `[{"name": "a", "leaf": {"min": "x", "max": 2}, "tags": {"k": 5}},
			{"name": 7, "ptr": {"max": "y"}}, 5, {"name": "ok", "leaf": {"min": 1}}]`,
		"ns:region": "asia-northeast1",
	}
	var r unreadRoot
	errs := Decode(src, "ns", &r)
	if len(errs) != 6 {
		t.Fatalf("errors %v, want 6", errs)
	}
	check := func(what string, got Unread, want ...string) {
		t.Helper()
		w := Unread{}
		for _, k := range want {
			w[k] = true
		}
		if len(got) == 0 && len(w) == 0 {
			return
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: unread %v, want %v", what, got, want)
		}
	}
	check("root", r.Unread, "count", "items")
	check("items[0]", r.Items[0].Unread, "tags")
	check("items[0].leaf", r.Items[0].Leaf.Unread, "min")
	check("items[1]", r.Items[1].Unread, "name")
	if r.Items[1].Ptr == nil {
		t.Fatal("items[1].ptr not decoded")
	}
	check("items[1].ptr", r.Items[1].Ptr.Unread, "max")
	check("items[3]", r.Items[3].Unread)
	check("items[3].leaf", r.Items[3].Leaf.Unread)
	if r.Items[0].Leaf.Max != 2 || r.Items[3].Leaf.Min != 1 || r.Region != "asia-northeast1" {
		t.Errorf("values around the unread ones not decoded: %+v", r)
	}
	if !r.Items[0].Leaf.Unread.Any("max", "min") || r.Items[3].Leaf.Unread.Any("min", "max") {
		t.Error("Unread.Any disagrees with the set")
	}
}

func TestSplitPath(t *testing.T) {
	for in, want := range map[string][]string{
		"queues[0].retry.minBackoff": {"queues", "0", "retry", "minBackoff"},
		"labels[Team]":               {"labels", "Team"},
		"worker":                     {"worker"},
		"a[1][2].b":                  {"a", "1", "2", "b"},
	} {
		if got := splitPath(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitPath(%q) = %q, want %q", in, got, want)
		}
	}
}

type retiring struct {
	Name string `json:"name"`
}

func (retiring) RetiredKeys() map[string]string {
	return map[string]string{"old": "it follows name now; delete this key"}
}

// TestRetiredKeys: a key a type no longer has is refused with what
// replaced it, not as an unknown key; other unknown keys stay unknown.
func TestRetiredKeys(t *testing.T) {
	errs := Check(fieldPath("ns:x"), map[string]any{"old": true, "nmae": "a"}, reflect.TypeOf(retiring{}))
	if len(errs) != 2 {
		t.Fatalf("errors %v, want 2", errs)
	}
	if errs[0].Field != "ns:x.nmae" || !strings.Contains(errs[0].Detail, `did you mean "name"`) {
		t.Errorf("unknown key reported as %v", errs[0])
	}
	if errs[1].Field != "ns:x.old" || errs[1].Type != field.ErrorTypeForbidden ||
		errs[1].Detail != "this key was removed: it follows name now; delete this key" {
		t.Errorf("retired key reported as %v", errs[1])
	}
}

func fieldPath(p string) *field.Path { return field.NewPath(p) }

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		p, q string
		want bool
	}{
		{"a.b[0].c", "a.b", true}, {"a.b[0].c", "a.b[0]", true}, {"a.b", "a.b", true},
		{"a.bc", "a.b", false}, {"a.b", "a.b[0]", false}, {"labels[team]", "labels", true},
	} {
		if got := Within(c.p, c.q); got != c.want {
			t.Errorf("Within(%q, %q) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}
