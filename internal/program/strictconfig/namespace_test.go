package strictconfig

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type nsConfig struct {
	Region string          `json:"region"`
	Count  int             `json:"count"`
	Tags   []string        `json:"tags"`
	Inner  struct{ A int } `json:"inner"`
}

func TestDecodeNamespace(t *testing.T) {
	cfg := nsConfig{Count: 7}
	errs := Decode(map[string]string{
		"ns:region":    "asia-northeast1",
		"ns:tags":      `["a","b"]`,
		"ns:regoin":    "x",
		"ns:inner":     `{"B": 1}`,
		"gcp:project":  "p",
		"other:count":  "not ours",
		"ns:count":     `[`,
		"no-namespace": "x",
	}, "ns", &cfg)
	if cfg.Region != "asia-northeast1" || len(cfg.Tags) != 2 {
		t.Errorf("decoded %+v", cfg)
	}
	if cfg.Count != 7 {
		t.Errorf("count = %d, want the default 7 kept when its value is broken", cfg.Count)
	}
	want := map[string]string{
		"ns:regoin":  `did you mean "region"`,
		"ns:count":   "must be valid int",
		"ns:inner.B": "unknown key",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for _, e := range errs {
		if w, ok := want[e.Field]; !ok || !strings.Contains(e.Error(), w) {
			t.Errorf("unexpected error %q (want for %s: %q)", e.Error(), e.Field, w)
		}
	}
}

type mapGetter map[string]string

func (m mapGetter) GetConfig(k string) (string, bool) { v, ok := m[k]; return v, ok }

// TestRead: values come from the context (the Automation API's inline
// runtime sets no PULUMI_CONFIG); the language host's PULUMI_CONFIG adds
// the keys the program does not know, so they can still be reported, and
// never overrides what the context says.
func TestRead(t *testing.T) {
	keys := append([]string{"gcp:project"}, NamespaceKeys("ns", reflect.TypeOf(nsConfig{}))...)
	if want := []string{"gcp:project", "ns:region", "ns:count", "ns:tags", "ns:inner"}; !slices.Equal(keys, want) {
		t.Fatalf("NamespaceKeys = %v, want %v", keys, want)
	}
	ctx := mapGetter{"gcp:project": "p", "ns:region": "asia-northeast1", "ns:regoin": "never asked for"}
	for _, tc := range []struct {
		name string
		env  string
		want map[string]string
	}{
		{"inline: no PULUMI_CONFIG", "", map[string]string{"gcp:project": "p", "ns:region": "asia-northeast1"}},
		{"language host", `{"gcp:project":"p","ns:region":"asia-northeast1","ns:regoin":"x"}`,
			map[string]string{"gcp:project": "p", "ns:region": "asia-northeast1", "ns:regoin": "x"}},
		{"context wins, stale keys dropped", `{"gcp:project":"old","ns:count":"3"}`,
			map[string]string{"gcp:project": "p", "ns:region": "asia-northeast1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PULUMI_CONFIG", tc.env)
			got, err := Read(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("Read = %v, want %v", got, tc.want)
			}
		})
	}
	t.Setenv("PULUMI_CONFIG", "{")
	if _, err := Read(ctx, keys); err == nil || !strings.Contains(err.Error(), "PULUMI_CONFIG") {
		t.Errorf("broken PULUMI_CONFIG: err = %v", err)
	}
}

type spanned struct{ D int }

func (s *spanned) UnmarshalJSON(b []byte) error {
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return err
	}
	if text != "ok" {
		return detailed{text}
	}
	s.D = 1
	return nil
}

type detailed struct{ text string }

func (d detailed) Error() string  { return "bad span " + d.text }
func (d detailed) Detail() string { return "not a span" }

type pruneConfig struct {
	Port  int               `json:"port"`
	Span  spanned           `json:"span"`
	Name  string            `json:"name"`
	Tags  map[string]string `json:"tags"`
	Items []struct {
		Name string  `json:"name"`
		Span spanned `json:"span"`
	} `json:"items"`
}

// TestDecodeKeepsSiblings: a value that cannot be read is reported at its
// own key, as written, with its own detail; every other key of the object
// is still decoded (and so can be validated), a list keeps its indexes.
func TestDecodeKeepsSiblings(t *testing.T) {
	cfg := struct {
		Obj pruneConfig `json:"obj"`
	}{}
	errs := Decode(map[string]string{
		"ns:obj": `{"port": 7, "span": "never", "name": 3, "tags": {"a": "x", "b": 2}, "colour": "red",
			"items": [{"name": "one", "span": "soon"}, {"name": "two", "span": "ok"}]}`,
	}, "ns", &cfg)
	want := map[string]string{
		"ns:obj.span":          `Invalid value: "never": not a span`,
		"ns:obj.name":          "must be a string",
		"ns:obj.tags[b]":       "must be a string",
		"ns:obj.colour":        "unknown key",
		"ns:obj.items[0].span": `Invalid value: "soon": not a span`,
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for _, e := range errs {
		if w, ok := want[e.Field]; !ok || !strings.Contains(e.Error(), w) {
			t.Errorf("unexpected error %v (want %q at %s)", e, w, e.Field)
		}
	}
	o := cfg.Obj
	if o.Port != 7 || o.Tags["a"] != "x" || len(o.Items) != 2 || o.Items[0].Name != "one" || o.Items[1].Span.D != 1 {
		t.Errorf("siblings of the bad values were not decoded: %+v", o)
	}
}
