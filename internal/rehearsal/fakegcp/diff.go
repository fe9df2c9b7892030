package fakegcp

import (
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// change is one difference between old and new inputs.
type change struct {
	path resource.PropertyPath
	kind pulumirpc.PropertyDiff_Kind
	// old and new are the values at path (null when absent).
	old, new resource.PropertyValue
}

// normalize applies what Terraform would before diffing: provider
// defaults for project (and location where it defaults to the region),
// schema defaults, and Optional+Computed inputs the program dropped.
func (k *kind) normalize(in, olds resource.PropertyMap, project, region string) resource.PropertyMap {
	out := resource.PropertyMap{}
	for key, v := range in {
		if key == defaultsKey {
			continue
		}
		out[key] = v
	}
	if k.project && project != "" {
		if _, ok := get(out, "project"); !ok {
			set(out, "project", project)
		}
	}
	if k.iam && k.project && region != "" {
		if _, ok := get(out, "location"); !ok {
			if _, hasName := get(out, "name"); hasName {
				set(out, "location", region)
			}
		}
	}
	for key, d := range k.defaults {
		if _, ok := get(out, key); !ok {
			out[resource.PropertyKey(key)] = resource.NewPropertyValue(d)
		}
	}
	for _, key := range k.keepIfAbsent {
		if _, ok := get(out, key); !ok && olds != nil {
			if v, ok := olds[resource.PropertyKey(key)]; ok {
				out[resource.PropertyKey(key)] = v
			}
		}
	}
	return out
}

// diffInputs lists the differences between two input bags, leaf by leaf
// for updates, whole values for additions and deletions.
func diffInputs(olds, news resource.PropertyMap) []change {
	var out []change
	for _, k := range unionKeys(olds, news) {
		diffValue(resource.PropertyPath{string(k)}, olds[k], news[k], &out)
	}
	return out
}

func diffValue(path resource.PropertyPath, o, n resource.PropertyValue, out *[]change) {
	ou, nu := unsecret(o), unsecret(n)
	hasO, hasN := present(ou), present(nu)
	switch {
	case !hasO && !hasN:
		return
	case !hasO:
		*out = append(*out, change{path: path, kind: pulumirpc.PropertyDiff_ADD, old: ou, new: nu})
		return
	case !hasN:
		*out = append(*out, change{path: path, kind: pulumirpc.PropertyDiff_DELETE, old: ou, new: nu})
		return
	case nu.IsComputed() || nu.IsOutput():
		*out = append(*out, change{path: path, kind: pulumirpc.PropertyDiff_UPDATE, old: ou, new: nu})
		return
	case ou.IsObject() && nu.IsObject():
		oo, no := ou.ObjectValue(), nu.ObjectValue()
		for _, k := range unionKeys(oo, no) {
			diffValue(append(append(resource.PropertyPath{}, path...), string(k)), oo[k], no[k], out)
		}
		return
	case ou.IsArray() && nu.IsArray():
		oa, na := ou.ArrayValue(), nu.ArrayValue()
		for i := 0; i < len(oa) || i < len(na); i++ {
			var ov, nv resource.PropertyValue
			if i < len(oa) {
				ov = oa[i]
			}
			if i < len(na) {
				nv = na[i]
			}
			diffValue(append(append(resource.PropertyPath{}, path...), i), ov, nv, out)
		}
		return
	}
	if !equalValues(ou, nu) {
		*out = append(*out, change{path: path, kind: pulumirpc.PropertyDiff_UPDATE, old: ou, new: nu})
	}
}

// pattern is a forceNew path split into segments ("*" = any index).
func splitPattern(p string) []string {
	p = strings.ReplaceAll(p, "[", ".")
	p = strings.ReplaceAll(p, "]", "")
	return strings.Split(p, ".")
}

func segMatches(seg any, pat string) bool {
	switch s := seg.(type) {
	case int:
		return pat == "*"
	case string:
		return s == pat
	}
	return false
}

// forcesReplace reports whether a change touches a ForceNew field: the
// change is at or inside a ForceNew path, or adds/removes/replaces with an
// unknown a container that holds a value at a ForceNew path below it.
func (k *kind) forcesReplace(c change) bool {
	for _, p := range k.forceNew {
		pat := splitPattern(p)
		n := len(c.path)
		if n > len(pat) {
			n = len(pat)
		}
		match := true
		for i := 0; i < n; i++ {
			if !segMatches(c.path[i], pat[i]) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		if len(c.path) >= len(pat) {
			return true
		}
		// The change is above the ForceNew field.
		rest := pat[len(c.path):]
		if c.new.IsComputed() || c.new.IsOutput() {
			return true
		}
		if holds(c.old, rest) || holds(c.new, rest) {
			return true
		}
	}
	return false
}

// holds reports whether v has a non-null value at the pattern rest.
func holds(v resource.PropertyValue, rest []string) bool {
	v = unsecret(v)
	if len(rest) == 0 {
		return present(v)
	}
	switch {
	case v.IsComputed() || v.IsOutput():
		return true
	case v.IsObject():
		return holds(v.ObjectValue()[resource.PropertyKey(rest[0])], rest[1:])
	case v.IsArray() && rest[0] == "*":
		for _, e := range v.ArrayValue() {
			if holds(e, rest[1:]) {
				return true
			}
		}
	}
	return false
}

// diff computes the engine's DiffResponse from old and new inputs.
func (k *kind) diff(oldIn, newIn resource.PropertyMap, project, region string) *pulumirpc.DiffResponse {
	olds := k.normalize(oldIn, nil, project, region)
	news := k.normalize(newIn, olds, project, region)
	changes := diffInputs(olds, news)

	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	diffs, replaces := map[string]bool{}, map[string]bool{}
	for _, c := range changes {
		kind := c.kind
		top := c.path[0].(string)
		if k.forcesReplace(c) {
			switch kind {
			case pulumirpc.PropertyDiff_ADD:
				kind = pulumirpc.PropertyDiff_ADD_REPLACE
			case pulumirpc.PropertyDiff_DELETE:
				kind = pulumirpc.PropertyDiff_DELETE_REPLACE
			default:
				kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
			}
			replaces[top] = true
		}
		diffs[top] = true
		resp.DetailedDiff[c.path.String()] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	if len(diffs) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	resp.Diffs = sortedKeys(diffs)
	resp.Replaces = sortedKeys(replaces)
	// Stables: ForceNew properties that did not change keep their values
	// through an update (the bridge reports them the same way).
	stable := map[string]bool{}
	for _, p := range k.forceNew {
		top := splitPattern(p)[0]
		if !replaces[top] {
			stable[top] = true
		}
	}
	resp.Stables = sortedKeys(stable)
	// The bridge deletes first when a replacement keeps a user-set
	// autonamed name (see the delete-before-replace note in kinds.go).
	resp.DeleteBeforeReplace = len(replaces) > 0 && k.autoName && !autonamed(newIn)
	return resp
}

// autonamed reports whether Check filled in the name (recorded in
// __defaults, as the bridge does).
func autonamed(in resource.PropertyMap) bool {
	v, ok := in[defaultsKey]
	if !ok || !v.IsArray() {
		// Without the bookkeeping list the bridge treats the resource as
		// autonamed (state written before it existed).
		return true
	}
	if _, named := get(in, "name"); !named {
		return true
	}
	for _, e := range v.ArrayValue() {
		if e.IsString() && e.StringValue() == "name" {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
