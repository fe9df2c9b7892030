package fakegcp

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"google.golang.org/protobuf/types/known/structpb"
)

// defaultsKey is the bookkeeping input the Terraform bridge adds in Check:
// the list of input keys it filled in itself (here: an autonamed name).
const defaultsKey = resource.PropertyKey("__defaults")

// unmarshal decodes a gRPC property bag, keeping secrets and unknowns as
// the engine sent them (AcceptSecrets/AcceptResources are on).
func unmarshal(s *structpb.Struct, label string) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label:         label,
		KeepUnknowns:  true,
		KeepSecrets:   true,
		KeepResources: true,
		SkipNulls:     true,
	})
	if err != nil {
		return nil, err
	}
	return derefResources(m), nil
}

// marshal encodes a property bag for the engine. keepUnknowns is true only
// where the engine accepts unknowns (previews).
func marshal(m resource.PropertyMap, label string, keepUnknowns bool) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		Label:         label,
		KeepUnknowns:  keepUnknowns,
		KeepSecrets:   true,
		KeepResources: true,
	})
}

// derefResources replaces resource references by their ID (or unknown), as
// the bridge does: Google only ever sees the referenced resource's ID.
func derefResources(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[k] = derefValue(v)
	}
	return out
}

func derefValue(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsResourceReference():
		ref := v.ResourceReferenceValue()
		if id, ok := ref.IDString(); ok {
			return resource.NewStringProperty(id)
		}
		if ref.ID.IsComputed() {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return resource.NewStringProperty(string(ref.URN))
	case v.IsSecret():
		return resource.MakeSecret(derefValue(v.SecretValue().Element))
	case v.IsObject():
		return resource.NewObjectProperty(derefResources(v.ObjectValue()))
	case v.IsArray():
		arr := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			arr[i] = derefValue(e)
		}
		return resource.NewArrayProperty(arr)
	}
	return v
}

// unsecret strips secret wrappers (Google does not know about them).
func unsecret(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// get returns the value at a dotted top-level key, secrets unwrapped; ok is
// false when absent or null.
func get(m resource.PropertyMap, key string) (resource.PropertyValue, bool) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return resource.PropertyValue{}, false
	}
	v = unsecret(v)
	if v.IsNull() {
		return v, false
	}
	return v, true
}

// str returns a known string input, "" when absent, null or unknown.
func str(m resource.PropertyMap, key string) string {
	v, ok := get(m, key)
	if !ok || !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// obj returns a known object input (nil when absent or not an object).
func obj(m resource.PropertyMap, key string) resource.PropertyMap {
	v, ok := get(m, key)
	if !ok || !v.IsObject() {
		return nil
	}
	return v.ObjectValue()
}

// isUnknown reports whether the input is present but not yet known.
func isUnknown(m resource.PropertyMap, key string) bool {
	v, ok := get(m, key)
	return ok && (v.IsComputed() || v.IsOutput())
}

func unknown() resource.PropertyValue {
	return resource.MakeComputed(resource.NewStringProperty(""))
}

// toPlain converts a property value to plain JSON-able Go values (secrets
// unwrapped). Unknowns become nil; they are never stored.
func toPlain(v resource.PropertyValue) any {
	v = unsecret(v)
	switch {
	case v.IsNull(), v.IsComputed(), v.IsOutput():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := make([]any, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			arr[i] = toPlain(e)
		}
		return arr
	case v.IsObject():
		return plainMap(v.ObjectValue())
	case v.IsResourceReference():
		return toPlain(derefValue(v))
	}
	return fmt.Sprint(v.V)
}

func plainMap(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k == defaultsKey {
			continue
		}
		out[string(k)] = toPlain(v)
	}
	return out
}

// fromPlain is the inverse of plainMap (numbers come back as float64).
func fromPlain(m map[string]any) resource.PropertyMap {
	if m == nil {
		return resource.PropertyMap{}
	}
	// A JSON round trip normalises ints and nested types.
	b, err := json.Marshal(m)
	if err != nil {
		return resource.NewPropertyMapFromMap(m)
	}
	var norm map[string]any
	if err := json.Unmarshal(b, &norm); err != nil {
		return resource.NewPropertyMapFromMap(m)
	}
	return resource.NewPropertyMapFromMap(norm)
}

// annotateSecrets marks values of outs secret where the same key held a
// secret in ins, recursing into objects, as the engine does for providers
// that cannot keep secrets themselves. Google returns plain values; this
// puts back the secretness the program asked for.
func annotateSecrets(outs, ins resource.PropertyMap) {
	for k, in := range ins {
		out, ok := outs[k]
		if !ok {
			continue
		}
		inv := unsecret(in)
		if out.IsObject() && inv.IsObject() {
			annotateSecrets(out.ObjectValue(), inv.ObjectValue())
			if in.IsSecret() {
				outs[k] = resource.MakeSecret(out)
			}
			continue
		}
		if !out.IsSecret() && in.ContainsSecrets() {
			outs[k] = resource.MakeSecret(out)
		}
	}
}

// equalValues compares two property values as Google would: secretness
// does not matter, numbers compare by value.
func equalValues(a, b resource.PropertyValue) bool {
	a, b = unsecret(a), unsecret(b)
	switch {
	case a.IsNull() || b.IsNull():
		return a.IsNull() && b.IsNull()
	case a.IsComputed() || b.IsComputed() || a.IsOutput() || b.IsOutput():
		return false
	case a.IsNumber() && b.IsNumber():
		return a.NumberValue() == b.NumberValue() ||
			math.Abs(a.NumberValue()-b.NumberValue()) < 1e-12
	case a.IsString() && b.IsString():
		return a.StringValue() == b.StringValue()
	case a.IsBool() && b.IsBool():
		return a.BoolValue() == b.BoolValue()
	case a.IsArray() && b.IsArray():
		aa, bb := a.ArrayValue(), b.ArrayValue()
		if len(aa) != len(bb) {
			return false
		}
		for i := range aa {
			if !equalValues(aa[i], bb[i]) {
				return false
			}
		}
		return true
	case a.IsObject() && b.IsObject():
		ao, bo := a.ObjectValue(), b.ObjectValue()
		for _, k := range unionKeys(ao, bo) {
			if !equalValues(ao[k], bo[k]) {
				return false
			}
		}
		return true
	}
	return a.DeepEquals(b)
}

func unionKeys(a, b resource.PropertyMap) []resource.PropertyKey {
	seen := map[resource.PropertyKey]bool{}
	var keys []resource.PropertyKey
	for _, m := range []resource.PropertyMap{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// present reports whether v holds a value (not null; unknown counts).
func present(v resource.PropertyValue) bool {
	return !unsecret(v).IsNull()
}
