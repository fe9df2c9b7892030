package policy

import (
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// Input turns a recorded plan into the input of the rules: input.resources
// holds one object per resource in the shape the Pulumi OPA analyzer builds
// for a stack rule (pulumi/pulumi-policy-opa buildOPAInput and
// buildStackOPAInput): __type, __name, __urn, __options, __provider,
// __properties (also without the __ prefix), the properties copied to the
// top level, dependencies and propertyDependencies. Like the analyzer's,
// the list also holds the stack resource itself.
//
// Under the analyzer a deny_*/warn_* rule sees one such object as input;
// the rules' `resources` helper makes both shapes look the same.
//
// Values unknown before deployment stay as the recorder wrote them
// ("<computed>"); the rules treat them as unknown, as they treat the
// analyzer's unknown values.
func Input(plan *recorder.Plan, opts Options) map[string]any {
	list := make([]any, 0, len(plan.Resources)+1)
	list = append(list, stackResource(plan))
	for _, r := range plan.Resources {
		list = append(list, AnalyzerResource(r))
	}
	in := map[string]any{"resources": list}
	if opts.Production {
		in["production"] = true
	}
	return in
}

// stackResource is the pulumi:pulumi:Stack resource the engine registers
// first and the recorder does not record.
func stackResource(plan *recorder.Plan) map[string]any {
	name := plan.Project + "-" + plan.Stack
	urn := "urn:pulumi:" + plan.Stack + "::" + plan.Project + "::pulumi:pulumi:Stack::" + name
	return AnalyzerResource(&recorder.Resource{URN: urn, Type: "pulumi:pulumi:Stack", Name: name, Inputs: map[string]any{}})
}

// AnalyzerResource is one resource as the analyzer hands it to a stack rule.
func AnalyzerResource(r *recorder.Resource) map[string]any {
	props := r.Inputs
	if props == nil {
		props = map[string]any{}
	}
	options := map[string]any{
		"protect":                 r.Protect,
		"parent":                  r.Parent,
		"deleteBeforeReplace":     r.DeleteBeforeReplace,
		"ignoreChanges":           nil,
		"additionalSecretOutputs": nil,
		"aliasURNs":               nil,
		"aliases":                 nil,
		"customTimeouts":          map[string]any{"create": 0.0, "update": 0.0, "delete": 0.0},
	}
	provider := providerInfo(r.Provider)

	obj := map[string]any{
		"type":       r.Type,
		"urn":        r.URN,
		"name":       r.Name,
		"options":    options,
		"provider":   provider,
		"properties": props,
		"props":      props,
	}
	// Properties take precedence over the unprefixed metadata, as in the
	// analyzer; rules read the __ fields, which nothing overrides.
	for k, v := range props {
		obj[k] = v
	}
	obj["__type"] = r.Type
	obj["__urn"] = r.URN
	obj["__name"] = r.Name
	obj["__options"] = options
	obj["__properties"] = props
	obj["__props"] = props
	obj["__provider"] = provider

	deps := make([]any, 0, len(r.Dependencies))
	for _, d := range r.Dependencies {
		deps = append(deps, d)
	}
	obj["dependencies"] = deps
	propDeps := map[string]any{}
	for k, urns := range r.PropertyDependencies {
		list := make([]any, 0, len(urns))
		for _, u := range urns {
			list = append(list, u)
		}
		propDeps[k] = list
	}
	obj["propertyDependencies"] = propDeps
	return obj
}

// providerInfo reads a provider reference ("<provider URN>::<id>") the way
// the analyzer describes the provider: its URN, name and type. No reference
// (the default provider, in the recorder) is an empty object.
func providerInfo(ref string) map[string]any {
	if ref == "" {
		return map[string]any{}
	}
	parts := strings.Split(ref, "::")
	if len(parts) < 4 {
		// Not a URN: keep it, so the provider still counts as given.
		return map[string]any{"urn": ref, "name": ref, "type": "", "properties": map[string]any{}}
	}
	urn := ref
	// A URN has four "::"-separated parts; a reference adds the id.
	if len(parts) >= 5 {
		urn = strings.Join(parts[:len(parts)-1], "::")
		parts = parts[:len(parts)-1]
	}
	typ := parts[len(parts)-2]
	if i := strings.LastIndex(typ, "$"); i >= 0 {
		typ = typ[i+1:]
	}
	return map[string]any{
		"urn":        urn,
		"name":       parts[len(parts)-1],
		"type":       typ,
		"properties": map[string]any{},
	}
}
