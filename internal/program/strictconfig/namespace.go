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

// Getter reads one configuration key ("ns:key"), as *pulumi.Context does.
type Getter interface {
	GetConfig(key string) (string, bool)
}

// Read returns the configuration of a run: key ("ns:key") to value, objects
// and lists as JSON text. Values come from the Pulumi context, which the
// engine fills both under the Go language host and in the Automation API's
// inline runtime; keys lists what the program reads (its namespaces' fields
// and provider keys such as gcp:project). The context cannot list its keys,
// so the rest (a misspelled key the program would never ask for) comes from
// PULUMI_CONFIG, which the language host and the offline recorder also set:
// there, unknown keys are reported; inline, only the known ones are read.
func Read(ctx Getter, keys []string) (map[string]string, error) {
	src, err := ReadEnv()
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if v, ok := ctx.GetConfig(k); ok {
			src[k] = v
		} else {
			delete(src, k)
		}
	}
	return src, nil
}

// NamespaceKeys lists the keys "<namespace>:<field>" of a struct whose
// json-tagged fields are the namespace's keys.
func NamespaceKeys(namespace string, t reflect.Type) []string {
	fields := Fields(t)
	keys := make([]string, 0, len(fields))
	for _, f := range fields {
		keys = append(keys, namespace+":"+f.Name)
	}
	return keys
}

// ReadEnv returns the configuration the Go language host hands a program in
// PULUMI_CONFIG: key ("ns:key") to value, objects and lists as JSON text.
// The offline recorder sets the same variable. It is empty when a program
// runs inline under the Automation API: use Read.
func ReadEnv() (map[string]string, error) {
	raw := os.Getenv("PULUMI_CONFIG")
	if raw == "" {
		return map[string]string{}, nil
	}
	var src map[string]string
	if err := json.Unmarshal([]byte(raw), &src); err != nil {
		return nil, fmt.Errorf("reading PULUMI_CONFIG: %w", err)
	}
	if src == nil {
		src = map[string]string{}
	}
	return src, nil
}

// Decode reads every key of namespace in src onto target, a pointer to a
// struct whose json-tagged fields are the namespace's keys, holding the
// defaults. Keys of other namespaces belong to providers and are left
// alone. It returns every unknown key, type mismatch and unreadable value
// at once, each with its own key path; a value with a problem leaves its
// default, and everything around it is still decoded. Each problem's key
// is recorded in the Unread field of the struct that holds it (see
// Unread), so that validation leaves it to its decode error.
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
		before := len(errs)
		errs = append(errs, decodeKey(path, src[key], f, dst)...)
		markUnread(dst.Addr(), name, errs[before:])
	}
	return errs
}

// decodeKey decodes one namespace key's value onto its field of dst.
func decodeKey(path *field.Path, value string, f Field, dst reflect.Value) field.ErrorList {
	dest := dst.FieldByIndex(f.Field.Index)
	if f.Field.Type.Kind() == reflect.String {
		dest.SetString(value)
		return nil
	}
	var decoded any
	if err := json.Unmarshal([]byte(value), &decoded); err != nil {
		return field.ErrorList{field.Invalid(path, value, "must be valid "+kindName(f.Field.Type))}
	}
	raw := []byte(value)
	errs := Check(path, decoded, f.Field.Type)
	if len(errs) > 0 {
		// Decode the rest: siblings of a bad value are still read, so
		// their own mistakes are reported too.
		pruned := Prune(path, decoded, errs)
		if pruned == nil {
			return errs
		}
		var err error
		if raw, err = json.Marshal(pruned); err != nil {
			return errs
		}
	}
	if err := json.Unmarshal(raw, dest.Addr().Interface()); err != nil {
		errs = append(errs, field.Invalid(path, value, err.Error()))
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
