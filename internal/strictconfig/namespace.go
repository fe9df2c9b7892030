package strictconfig

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ReadEnv returns the configuration the Pulumi engine hands a Go program in
// PULUMI_CONFIG: key ("ns:key") to value, objects and lists as JSON text.
// The offline recorder sets the same variable, so both engines feed a
// program the same way.
func ReadEnv() (map[string]string, error) {
	raw := os.Getenv("PULUMI_CONFIG")
	if raw == "" {
		return map[string]string{}, nil
	}
	var src map[string]string
	if err := json.Unmarshal([]byte(raw), &src); err != nil {
		return nil, fmt.Errorf("reading PULUMI_CONFIG: %w", err)
	}
	return src, nil
}

// Decode reads every key of namespace in src onto target, a pointer to a
// struct whose json-tagged fields are the namespace's keys, holding the
// defaults. Keys of other namespaces belong to providers and are left
// alone. It returns every unknown key and every type mismatch at once,
// each with its key path; a key with a problem leaves its default.
func Decode(src map[string]string, namespace string, target any) field.ErrorList {
	dst := reflect.ValueOf(target).Elem()
	fields := map[string]Field{}
	var names []string
	for _, f := range Fields(dst.Type()) {
		fields[f.Name] = f
		names = append(names, f.Name)
	}
	keys := slices.Sorted(maps.Keys(src))

	var errs field.ErrorList
	for _, key := range keys {
		ns, name, ok := strings.Cut(key, ":")
		if !ok || ns != namespace {
			continue
		}
		path := field.NewPath(key)
		f, known := fields[name]
		if !known {
			errs = append(errs, UnknownKey(path, names))
			continue
		}
		value := src[key]
		dest := dst.FieldByIndex(f.Field.Index)
		if f.Field.Type.Kind() == reflect.String {
			dest.SetString(value)
			continue
		}
		var decoded any
		if err := json.Unmarshal([]byte(value), &decoded); err != nil {
			errs = append(errs, field.Invalid(path, value, "must be valid "+kindName(f.Field.Type)))
			continue
		}
		if fe := Check(path, decoded, f.Field.Type); len(fe) > 0 {
			errs = append(errs, fe...)
			continue
		}
		if err := json.Unmarshal([]byte(value), dest.Addr().Interface()); err != nil {
			errs = append(errs, field.Invalid(path, value, err.Error()))
		}
	}
	return errs
}

// kindName says what JSON a Go type is read from.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "list"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return t.Kind().String()
	}
}
