package outputmap

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type sub struct {
	ID       pulumi.StringOutput `pulumi:"id"`
	Internal string
}

type component struct {
	pulumi.ResourceState

	URL      pulumi.StringOutput `pulumi:"url"`
	Kind     string              `pulumi:"kind"`
	Count    int                 `pulumi:"count"`
	Subs     map[string]sub      `pulumi:"subs"`
	Untagged pulumi.StringOutput
	Skipped  string `pulumi:"-"`
}

// TestOf: tagged fields, and only those, become outputs under their
// tags, maps of structs recursively.
func TestOf(t *testing.T) {
	c := &component{
		URL:  pulumi.String("https://x").ToStringOutput(),
		Kind: "Deployment", Count: 3,
		Subs:     map[string]sub{"a": {ID: pulumi.String("projects/p/a").ToStringOutput(), Internal: "no"}},
		Untagged: pulumi.String("no").ToStringOutput(),
		Skipped:  "no",
	}
	m := Of(c)
	if len(m) != 4 {
		t.Fatalf("outputs %v, want url, kind, count and subs", m)
	}
	if _, ok := m["url"].(pulumi.StringOutput); !ok {
		t.Errorf("url is %T", m["url"])
	}
	if m["kind"] != pulumi.String("Deployment") || m["count"] != pulumi.Int(3) {
		t.Errorf("kind %v, count %v", m["kind"], m["count"])
	}
	subs, ok := m["subs"].(pulumi.Map)
	if !ok || len(subs) != 1 {
		t.Fatalf("subs is %#v", m["subs"])
	}
	a, ok := subs["a"].(pulumi.Map)
	if !ok || len(a) != 1 || a["id"] == nil {
		t.Errorf("subs[a] is %#v, want only id", subs["a"])
	}
}

// TestOfRefuses: a tagged output left unset, or a tagged field of a type
// that is no output, is a programming error named in the panic.
func TestOfRefuses(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"unset output", &struct {
			URL pulumi.StringOutput `pulumi:"url"`
		}{}, "URL is not set"},
		{"unset input", &struct {
			URL pulumi.StringInput `pulumi:"url"`
		}{}, "URL is not set"},
		{"not an output", &struct {
			Ready []pulumi.Resource `pulumi:"ready"`
		}{}, "Ready has type []pulumi.Resource"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, tc.want) {
					t.Errorf("panic %v, want one with %q", r, tc.want)
				}
			}()
			Of(tc.v)
		})
	}
}
