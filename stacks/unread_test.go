package stacks_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/stacks"
)

// mapKey matches a map key in a key path ("labels[team]"), to compare it
// with the same key written as a field (".team").
var mapKey = regexp.MustCompile(`\[([^\]0-9][^\]]*)\]`)

// TestAnUnreadValueBlamesNothingElse: in every stack file, each value in
// turn (every leaf, every object and every list) replaced by one of the
// wrong type gives exactly one error, its decode error at its own key path:
// no rule runs on the default it is left with, and no other key is blamed.
func TestAnUnreadValueBlamesNothingElse(t *testing.T) {
	for _, name := range []string{"dev", "prod"} {
		st := loadStack(t, name)
		cases := 0
		for _, key := range slices.Sorted(func(yield func(string) bool) {
			for k := range st.Config {
				if strings.HasPrefix(k, stacks.Namespace+":") && !yield(k) {
					return
				}
			}
		}) {
			var v any
			if err := json.Unmarshal([]byte(st.Config[key]), &v); err != nil {
				continue // a plain string: any text reads as one
			}
			try := func(path string, replace func(any) any) {
				cases++
				cfg := copyConfig(st.Config)
				var root any
				if err := json.Unmarshal([]byte(cfg[key]), &root); err != nil {
					t.Fatal(err)
				}
				root = replaceAt(root, strings.TrimPrefix(path, key), replace)
				b, err := json.Marshal(root)
				if err != nil {
					t.Fatal(err)
				}
				cfg[key] = string(b)
				_, err = stacks.Load(name, stacks.Source(cfg))
				var got []string
				if ce, ok := err.(*stacks.ConfigError); ok {
					for _, e := range ce.Errs {
						got = append(got, mapKey.ReplaceAllString(e.Field, ".$1"))
					}
				}
				if len(got) != 1 || got[0] != path {
					t.Errorf("%s: %s unreadable: errors at %v, want its decode error alone\n%v", name, path, got, err)
				}
			}
			try(key, wrongType)
			walk(key, v, try)
		}
		if cases < 60 {
			t.Errorf("%s: only %d values tried", name, cases)
		}
	}
}

// walk calls f for every value under v, with its key path and a function
// giving a value of another JSON type.
func walk(path string, v any, f func(path string, wrong func(any) any)) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f(path+"."+k, wrongType)
			walk(path+"."+k, x[k], f)
		}
	case []any:
		for i := range x {
			p := fmt.Sprintf("%s[%d]", path, i)
			f(p, wrongType)
			walk(p, x[i], f)
		}
	}
}

// wrongType is a value of another JSON type than v.
func wrongType(v any) any {
	switch v.(type) {
	case string:
		return 5
	case map[string]any, []any:
		return true
	default:
		return "x"
	}
}

// replaceAt replaces the value at rel (".a[0].b") under v.
func replaceAt(v any, rel string, replace func(any) any) any {
	if rel == "" {
		return replace(v)
	}
	if rel[0] == '[' {
		end := strings.IndexByte(rel, ']')
		i, err := strconv.Atoi(rel[1:end])
		if err != nil {
			panic(fmt.Sprintf("replaceAt: index %q: %v", rel[1:end], err))
		}
		arr := v.([]any)
		arr[i] = replaceAt(arr[i], rel[end+1:], replace)
		return arr
	}
	rest := rel[1:]
	end := strings.IndexAny(rest, ".[")
	if end < 0 {
		end = len(rest)
	}
	obj := v.(map[string]any)
	obj[rest[:end]] = replaceAt(obj[rest[:end]], rest[end:], replace)
	return obj
}
