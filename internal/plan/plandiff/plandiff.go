// Package plandiff compares two recorded plans (build/<stack>/plan.json, as
// written by cmd/plan) and renders what is added, removed and changed,
// property by property, as Markdown that reads well in a terminal and in a
// pull-request comment. Resources are matched by URN; nested inputs are
// flattened to dotted paths; secrets are never printed. Classify records
// what the engine does with each resource (create, update, replace,
// delete), its providers answering through a Differ, and HoldsData says
// which replacements and deletions lose data or identity.
package plandiff

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// Blinded is how the offline stack loader shows a secret configuration
// value the program read without asking for a secret.
const Blinded = "[secret]"

// DefaultSecretKeys are property names whose values are always masked,
// whatever the plan says about them.
var DefaultSecretKeys = []string{"password", "privateKey", "privateKeyData", "secretData"}

// Options tune a diff.
type Options struct {
	// SecretKeys are property names (any segment of a path, compared
	// case-insensitively) whose values are masked.
	SecretKeys []string
	// MaxValue truncates rendered values longer than this (0: 200).
	MaxValue int
}

// Property is one changed (or, for added and removed resources, present)
// property.
type Property struct {
	Path string
	// Old and New are rendered values; Has* say whether the side has one.
	Old, New       string
	HasOld, HasNew bool
}

// Resource is one added, removed or changed resource.
type Resource struct {
	URN, Type, Name string
	Properties      []Property

	// What the engine does with it, once classified (Diff.Classify).
	Action Action
	// Because says why, when the properties do not: what forces a
	// replacement, or why nothing happens.
	Because string
	// DeleteBeforeReplace: a replacement deletes the old resource first;
	// otherwise the replacement is created first.
	DeleteBeforeReplace bool
	// Refused: the resource is protected, so the engine refuses to
	// replace or delete it.
	Refused bool
	// Retained: retainOnDelete; the engine leaves the old resource in the
	// cloud.
	Retained bool
	// Holds is what a replacement or deletion loses (HoldsData).
	Holds string
}

// Diff is the difference between two plans.
type Diff struct {
	Stack                   string
	BaseLabel, HeadLabel    string
	Added, Removed, Changed []Resource
	Unchanged               int
	Outputs                 []Property
	// BaseMissing is set when the base has no such stack (all resources are new).
	BaseMissing bool
	// Classified is set once Classify has recorded every resource's action.
	Classified bool
}

// HasChanges reports whether anything differs.
func (d *Diff) HasChanges() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changed)+len(d.Outputs) > 0
}

// Load reads a plan.json.
func Load(path string) (*recorder.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p recorder.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// Compute compares base with head. A nil base is an empty plan.
func Compute(base, head *recorder.Plan, opts Options) *Diff {
	if opts.MaxValue <= 0 {
		opts.MaxValue = 200
	}
	r := renderer{opts: opts, secret: map[string]bool{}}
	for _, k := range opts.SecretKeys {
		r.secret[strings.ToLower(k)] = true
	}
	d := &Diff{}
	if head != nil {
		d.Stack = head.Stack
	}
	if base == nil {
		base = &recorder.Plan{}
		d.BaseMissing = true
	}
	if head == nil {
		head = &recorder.Plan{}
	}
	if d.Stack == "" {
		d.Stack = base.Stack
	}
	baseBy := byURN(base.Resources)
	headBy := byURN(head.Resources)
	for _, urn := range sortedKeys(headBy) {
		h := headBy[urn]
		b, ok := baseBy[urn]
		if !ok {
			d.Added = append(d.Added, Resource{URN: urn, Type: h.Type, Name: h.Name, Properties: r.compare(nil, r.props(h, nil))})
			continue
		}
		if props := r.compare(r.props(b, baseBy), r.props(h, headBy)); len(props) > 0 {
			d.Changed = append(d.Changed, Resource{URN: urn, Type: h.Type, Name: h.Name, Properties: props})
		} else {
			d.Unchanged++
		}
	}
	for _, urn := range sortedKeys(baseBy) {
		if _, ok := headBy[urn]; !ok {
			b := baseBy[urn]
			d.Removed = append(d.Removed, Resource{URN: urn, Type: b.Type, Name: b.Name, Properties: r.compare(r.props(b, nil), nil)})
		}
	}
	d.Outputs = r.compare(r.flatten(base.Outputs), r.flatten(head.Outputs))
	return d
}

func byURN(rs []*recorder.Resource) map[string]*recorder.Resource {
	out := make(map[string]*recorder.Resource, len(rs))
	for _, r := range rs {
		out[r.URN] = r
	}
	return out
}

type renderer struct {
	opts   Options
	secret map[string]bool
}

// props flattens a resource's inputs and the options that change what a
// deployment does ("(protect)", ...) into rendered leaves. With the plan's
// resources (all), the parent, provider, dependencies and replaceWith
// targets are added too, one path per related resource, so that a change
// lists exactly the relations gained or lost.
func (r renderer) props(res *recorder.Resource, all map[string]*recorder.Resource) map[string]string {
	out := r.flatten(res.Inputs)
	flag := func(name string, on bool) {
		if on {
			out["("+name+")"] = "true"
		}
	}
	flag("protect", res.Protect)
	flag("retainOnDelete", res.RetainOnDelete)
	flag("deleteBeforeReplace", res.DeleteBeforeReplace)
	if all == nil {
		return out
	}
	if res.Parent != "" {
		out["(parent)"] = r.leaf(ShortURN(res.Parent))
	}
	if res.Provider != "" {
		out["(provider)"] = r.leaf(ShortURN(res.Provider))
	}
	for _, u := range res.Dependencies {
		out["(dependsOn) "+ShortURN(dependency(u, res, all))] = "true"
	}
	for _, u := range res.ReplaceWith {
		out["(replaceWith) "+ShortURN(u)] = "true"
	}
	return out
}

// dependency names a dependency as a diff shows it. A dependency on a child
// of another component is shown as one on that component: the Go SDK turns
// DependsOn(component) into the component's children whose registration has
// completed at that moment, so the exact set of children varies from run to
// run while the dependency on the component does not. Dependencies within
// the resource's own components stay exact.
func dependency(u string, res *recorder.Resource, all map[string]*recorder.Resource) string {
	dep, ok := all[u]
	if !ok {
		return u
	}
	parent, ok := all[dep.Parent]
	if !ok || parent.Custom {
		return u
	}
	for a := res.Parent; a != ""; {
		if a == parent.URN {
			return u // a sibling within the same component
		}
		anc, ok := all[a]
		if !ok {
			break
		}
		a = anc.Parent
	}
	return parent.URN
}

// ShortURN is the type and name of a URN ("gcp:pubsub/topic:Topic::jobs"):
// within one plan, project and stack are the same for every resource.
func ShortURN(urn string) string {
	i := strings.LastIndex(urn, "::")
	if i < 0 {
		return urn
	}
	name := urn[i+2:]
	rest := urn[:i]
	j := strings.LastIndex(rest, "::")
	typ := rest[j+2:]
	if k := strings.LastIndex(typ, "$"); k >= 0 {
		typ = typ[k+1:]
	}
	return typ + "::" + name
}

// flatten renders every leaf of v under its dotted path.
func (r renderer) flatten(v map[string]any) map[string]string {
	out := map[string]string{}
	for k, e := range v {
		r.walk(segment("", k), e, r.secret[strings.ToLower(k)], out)
	}
	return out
}

func (r renderer) walk(path string, v any, masked bool, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = r.leafMasked("{}", masked)
			return
		}
		for k, e := range x {
			r.walk(segment(path, k), e, masked || r.secret[strings.ToLower(k)], out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = r.leafMasked("[]", masked)
			return
		}
		for i, e := range x {
			r.walk(path+"."+strconv.Itoa(i), e, masked, out)
		}
	default:
		if masked {
			out[path] = "(secret)"
			return
		}
		out[path] = r.leaf(v)
	}
}

func (r renderer) leafMasked(s string, masked bool) string {
	if masked {
		return "(secret)"
	}
	return s
}

// leaf renders a scalar: JSON, with the recorder's markers spelled out.
func (r renderer) leaf(v any) string {
	switch v {
	case recorder.Secret, Blinded:
		return "(secret)"
	case recorder.Computed:
		return "(computed)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	if n := len(s); n > r.opts.MaxValue {
		s = s[:r.opts.MaxValue] + fmt.Sprintf("… (%d characters)", n)
	}
	return s
}

// compare lists the paths whose rendered values differ.
func (r renderer) compare(old, new map[string]string) []Property {
	paths := map[string]bool{}
	for p := range old {
		paths[p] = true
	}
	for p := range new {
		paths[p] = true
	}
	var out []Property
	for _, p := range sortedKeys(paths) {
		o, hasOld := old[p]
		n, hasNew := new[p]
		if hasOld == hasNew && o == n {
			continue
		}
		out = append(out, Property{Path: p, Old: o, New: n, HasOld: hasOld, HasNew: hasNew})
	}
	sort.SliceStable(out, func(i, j int) bool { return lessPath(out[i].Path, out[j].Path) })
	return out
}

// lessPath puts resource options after inputs.
func lessPath(a, b string) bool {
	ao, bo := strings.HasPrefix(a, "("), strings.HasPrefix(b, "(")
	if ao != bo {
		return !ao
	}
	return a < b
}

// segment appends a map key to a dotted path; keys that contain dots or
// brackets are quoted, so every path reads back unambiguously.
func segment(path, key string) string {
	if key == "" || strings.ContainsAny(key, ".[]\" ") {
		key = "[" + strconv.Quote(key) + "]"
		return path + key
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// WriteMarkdown renders the diff.
func (d *Diff) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Plan diff for stack `%s`\n\n", d.Stack)
	if d.BaseLabel != "" || d.HeadLabel != "" {
		fmt.Fprintf(&b, "Base: %s · Head: %s\n\n", d.BaseLabel, d.HeadLabel)
	}
	if d.BaseMissing {
		b.WriteString("The base revision has no such stack: everything is new.\n\n")
	}
	if d.Classified && d.HasChanges() {
		d.writeAtRisk(&b)
	}
	if !d.HasChanges() {
		fmt.Fprintf(&b, "**No changes** (%d resources, stack outputs unchanged).\n", d.Unchanged)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "**%d to add, %d to remove, %d to change**, %d unchanged", len(d.Added), len(d.Removed), len(d.Changed), d.Unchanged)
	if len(d.Outputs) > 0 {
		fmt.Fprintf(&b, "; %d stack output values differ", len(d.Outputs))
	}
	b.WriteString(".")
	if d.Classified {
		n := d.Count()
		fmt.Fprintf(&b, " As the providers decide: **%d to create, %d to update, %d to replace, %d to delete**, %d the same",
			n[Create], n[Update], n[Replace], n[Delete], n[Same])
		if n[Same] > 0 {
			b.WriteString(" (only options or relations change, or the provider sees no change)")
		}
		b.WriteString(".")
	}
	b.WriteString("\n\nRecorded offline (`make plan`): values known only after deployment show as _(computed)_, secrets as _(secret)_.\n")

	section := func(title string, rs []Resource, one func(Property) []string, header string) {
		if len(rs) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n#### %s (%d)\n", title, len(rs))
		for _, r := range rs {
			verdict := ""
			if r.Action != "" {
				verdict = ": " + html(r.Verdict())
			}
			fmt.Fprintf(&b, "\n<details><summary><code>%s</code> <b>%s</b>%s</summary>\n\n", html(r.Type), html(r.Name), verdict)
			fmt.Fprintf(&b, "URN: %s\n\n%s\n", code(r.URN), header)
			for _, p := range r.Properties {
				b.WriteString("| " + strings.Join(one(p), " | ") + " |\n")
			}
			b.WriteString("\n</details>\n")
		}
	}
	section("Added", d.Added, func(p Property) []string { return []string{code(p.Path), code(p.New)} },
		"| property | value |\n|---|---|")
	section("Removed", d.Removed, func(p Property) []string { return []string{code(p.Path), code(p.Old)} },
		"| property | value |\n|---|---|")
	// Changed resources are the ones a reviewer reads line by line: open.
	if len(d.Changed) > 0 {
		fmt.Fprintf(&b, "\n#### Changed (%d)\n", len(d.Changed))
		for _, r := range d.Changed {
			fmt.Fprintf(&b, "\n`%s` **%s**", r.Type, escapeText(r.Name))
			if r.Action != "" {
				b.WriteString(": " + markdownVerdict(r))
			}
			fmt.Fprintf(&b, "  \nURN: %s\n\n", code(r.URN))
			if len(r.Properties) == 0 {
				b.WriteString("None of its own inputs or options change.\n")
				continue
			}
			b.WriteString("| property | base | head |\n|---|---|---|\n")
			for _, p := range r.Properties {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", code(p.Path), side(p.Old, p.HasOld), side(p.New, p.HasNew))
			}
		}
	}
	if len(d.Outputs) > 0 {
		b.WriteString("\n#### Stack outputs\n\n| output | base | head |\n|---|---|---|\n")
		for _, p := range d.Outputs {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", code(p.Path), side(p.Old, p.HasOld), side(p.New, p.HasNew))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeAtRisk opens a classified diff with what a reviewer must not miss:
// every replacement or deletion of a resource that holds data or identity.
func (d *Diff) writeAtRisk(b *strings.Builder) {
	risky := d.AtRisk()
	if len(risky) == 0 {
		b.WriteString("No resource that holds data or identity is replaced or deleted.\n\n")
		return
	}
	fmt.Fprintf(b, "#### Replaced or deleted, holding data or identity (%d)\n\n", len(risky))
	for _, r := range risky {
		fmt.Fprintf(b, "- `%s` **%s** (%s): %s\n", r.Type, escapeText(r.Name), escapeText(r.Holds), markdownVerdict(r))
	}
	b.WriteString("\n")
}

// markdownVerdict is the action in bold, its manner, and why.
func markdownVerdict(r Resource) string {
	s := "**" + string(r.Action) + "**" + r.manner()
	if r.Because != "" {
		s += ": " + r.Because
	}
	return s
}

func side(v string, has bool) string {
	if !has {
		return "_(absent)_"
	}
	return code(v)
}

// code renders s as a Markdown code span that survives a table cell.
func code(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || fence != "`" {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func escapeText(s string) string {
	r := strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

func html(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
