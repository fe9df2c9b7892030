// Package strictconfig checks decoded configuration against the Go types it
// will be read into, so that a misspelled key or a value of the wrong type is
// reported with its key path instead of being ignored or half-read.
package strictconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/texttheater/golang-levenshtein/levenshtein"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// Check walks value (as produced by encoding/json into an any) alongside t
// and reports unknown keys and type mismatches. Struct types with their own
// UnmarshalJSON are checked by their fields; custom types without JSON
// fields (durations) must be strings.
func Check(path *field.Path, value any, t reflect.Type) field.ErrorList {
	return check(path, value, t, "")
}

// check is Check with the api tag of the struct field the value is read
// into (see IntRange).
func check(path *field.Path, value any, t reflect.Type, api string) field.ErrorList {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if value == nil {
		return nil
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) && (t.Kind() != reflect.Struct || len(Fields(t)) == 0) {
		text, ok := value.(string)
		if !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a string")}
		}
		// A value with its own syntax (a duration) is read here, so that a
		// value that cannot be read is reported at its own key, as written.
		raw, _ := json.Marshal(text)
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			detail := err.Error()
			var d interface{ Detail() string }
			if errors.As(err, &d) {
				detail = d.Detail()
			}
			return field.ErrorList{field.Invalid(path, text, detail)}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := value.(map[string]any)
		if !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be an object")}
		}
		fields := Fields(t)
		known := map[string]reflect.StructField{}
		names := make([]string, 0, len(fields))
		for _, f := range fields {
			known[f.Name] = f.Field
			names = append(names, f.Name)
		}
		var errs field.ErrorList
		retired := retiredKeys(t)
		for _, k := range sortedKeys(obj) {
			f, ok := known[k]
			if why, gone := retired[k]; !ok && gone {
				errs = append(errs, field.Forbidden(path.Child(k), "this key was removed: "+why))
				continue
			}
			if !ok {
				errs = append(errs, UnknownKey(path.Child(k), names))
				continue
			}
			errs = append(errs, check(path.Child(k), obj[k], f.Type, f.Tag.Get("api"))...)
		}
		return errs
	case reflect.Map:
		obj, ok := value.(map[string]any)
		if !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be an object")}
		}
		var errs field.ErrorList
		for _, k := range sortedKeys(obj) {
			errs = append(errs, check(path.Key(k), obj[k], t.Elem(), api)...)
		}
		return errs
	case reflect.Slice:
		arr, ok := value.([]any)
		if !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a list")}
		}
		var errs field.ErrorList
		for i, v := range arr {
			errs = append(errs, check(path.Index(i), v, t.Elem(), api)...)
		}
		return errs
	case reflect.String:
		if _, ok := value.(string); !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a string")}
		}
	case reflect.Bool:
		if _, ok := value.(bool); !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be true or false")}
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, ok := value.(float64)
		if !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a whole number")}
		}
		lo, hi, what := IntRange(t.Kind(), api)
		// Compared as floats first: a float beyond the int64 range has no
		// int64 to compare with.
		if n < float64(lo) || n >= float64(hi)+1 || int64(n) > hi {
			bad := value
			if n >= math.MinInt64 && n < math.MaxInt64 && n == math.Trunc(n) {
				bad = int64(n) // as written, not as 2.147483648e+09
			}
			return field.ErrorList{field.Invalid(path, bad, fmt.Sprintf("out of range: a whole number from %d to %d (%s)", lo, hi, what))}
		}
		if n != float64(int64(n)) {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a whole number")}
		}
	case reflect.Float64:
		if _, ok := value.(float64); !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a number")}
		}
	}
	return nil
}

// IntRange is the range of whole numbers a configuration value read into a
// Go integer of kind k may hold, and what sets it. A struct field tagged
// api:"int32" is an int32 in the API it ends up in (the field's comment
// cites the API reference), so it holds one whatever its Go type; any other
// holds what its Go type does.
func IntRange(k reflect.Kind, api string) (lo, hi int64, what string) {
	switch {
	case api == "int32":
		return math.MinInt32, math.MaxInt32, "the API field is an int32"
	case k == reflect.Int32:
		return math.MinInt32, math.MaxInt32, "an int32, as the API field"
	default:
		return math.MinInt64, math.MaxInt64, "a 64-bit integer"
	}
}

// Prune removes from value (as produced by encoding/json into an any) every
// key and list element that an error of errs (from Check on the same value
// and path) points at, so that the rest decodes: one bad value leaves its
// default and every sibling is still read and validated. A list element is
// replaced by null rather than removed, which keeps the other elements'
// indexes. It returns the pruned value (nil if the whole value is bad).
func Prune(path *field.Path, value any, errs field.ErrorList) any {
	bad := map[string]bool{}
	for _, e := range errs {
		bad[e.Field] = true
	}
	return prune(path, value, bad)
}

func prune(path *field.Path, value any, bad map[string]bool) any {
	if bad[path.String()] {
		return nil
	}
	switch v := value.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, child := range v {
			// Struct fields and map keys print differently in paths.
			if bad[path.Child(k).String()] || bad[path.Key(k).String()] {
				continue
			}
			p := path.Child(k)
			if !under(p.String(), bad) {
				p = path.Key(k)
			}
			out[k] = prune(p, child, bad)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, child := range v {
			out[i] = prune(path.Index(i), child, bad)
		}
		return out
	}
	return value
}

// under reports whether some bad path lies at or under p.
func under(p string, bad map[string]bool) bool {
	for b := range bad {
		if Within(b, p) {
			return true
		}
	}
	return false
}

// UnknownKey reports a key that is not part of the schema, suggesting the
// closest known one.
func UnknownKey(path *field.Path, known []string) *field.Error {
	name := path.String()
	if i := strings.LastIndexAny(name, ".:"); i >= 0 {
		name = name[i+1:]
	}
	msg := "unknown key; known keys: " + strings.Join(known, ", ")
	if s := closest(name, known); s != "" {
		msg = fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	return &field.Error{Type: field.ErrorTypeNotFound, Field: path.String(), BadValue: field.OmitValueType{}, Detail: msg}
}

// Retired is implemented by configuration types that once had keys they
// no longer have: RetiredKeys maps each such key to what replaced it, and
// a stack file that still sets one is told so, instead of "unknown key".
type Retired interface {
	RetiredKeys() map[string]string
}

func retiredKeys(t reflect.Type) map[string]string {
	if r, ok := reflect.New(t).Elem().Interface().(Retired); ok {
		return r.RetiredKeys()
	}
	return nil
}

// Field is one configuration key of a struct type.
type Field struct {
	Name  string
	Doc   string
	Field reflect.StructField
}

// Fields lists the JSON keys of a struct type with their doc tags.
func Fields(t reflect.Type) []Field {
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out = append(out, Field{Name: name, Doc: f.Tag.Get("doc"), Field: f})
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// closest returns the known key within edit distance 2 of s, if any.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func distance(a, b string) int {
	return levenshtein.DistanceForStrings([]rune(a), []rune(b), levenshtein.DefaultOptions)
}

// DecodeOver decodes the JSON object b into *out on top of defaults: keys b
// does not hold keep the default's values, so "absent" and "zero" differ.
// plain converts a *T to the same struct without its UnmarshalJSON method
// (the caller's `type plain T`), so decoding does not call back into it.
// On error *out is unchanged. Every Spec with defaults decodes through it:
//
//	func (s *Spec) UnmarshalJSON(b []byte) error {
//		type plain Spec
//		return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
//	}
func DecodeOver[T, P any](b []byte, out *T, defaults T, plain func(*T) *P) error {
	v := defaults
	if err := json.Unmarshal(b, plain(&v)); err != nil {
		return err
	}
	*out = v
	return nil
}
