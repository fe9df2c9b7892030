// Package strictconfig checks decoded configuration against the Go types it
// will be read into, so that a misspelled key or a value of the wrong type is
// reported with its key path instead of being ignored or half-read.
package strictconfig

import (
	"encoding/json"
	"fmt"
	"maps"
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
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if value == nil {
		return nil
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) && (t.Kind() != reflect.Struct || len(Fields(t)) == 0) {
		if _, ok := value.(string); !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a string")}
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
		for _, k := range sortedKeys(obj) {
			f, ok := known[k]
			if !ok {
				errs = append(errs, UnknownKey(path.Child(k), names))
				continue
			}
			errs = append(errs, Check(path.Child(k), obj[k], f.Type)...)
		}
		return errs
	case reflect.Map:
		obj, ok := value.(map[string]any)
		if !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be an object")}
		}
		var errs field.ErrorList
		for _, k := range sortedKeys(obj) {
			errs = append(errs, Check(path.Key(k), obj[k], t.Elem())...)
		}
		return errs
	case reflect.Slice:
		arr, ok := value.([]any)
		if !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a list")}
		}
		var errs field.ErrorList
		for i, v := range arr {
			errs = append(errs, Check(path.Index(i), v, t.Elem())...)
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
		if !ok || n != float64(int64(n)) {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a whole number")}
		}
	case reflect.Float64:
		if _, ok := value.(float64); !ok {
			return field.ErrorList{field.TypeInvalid(path, value, "must be a number")}
		}
	}
	return nil
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
