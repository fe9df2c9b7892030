package strictconfig

import (
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
