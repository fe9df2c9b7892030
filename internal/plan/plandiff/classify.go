package plandiff

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// Action is what the engine does with a resource.
type Action string

// The engine's steps, as `pulumi preview` names them.
const (
	Create  Action = "create"
	Update  Action = "update"
	Replace Action = "replace"
	Delete  Action = "delete"
	// Same: the resource itself is left alone; only options or relations
	// the engine records in the state changed, or the provider sees no
	// change in the inputs that differ.
	Same Action = "same"
)

// ProviderChange is one resource's recorded inputs before and after, for
// its provider to judge.
type ProviderChange struct {
	URN        string
	Olds, News map[string]any
	// Unknown are top-level input properties whose "<computed>" values
	// come from a resource that is being replaced: the engine sends them
	// as unknown. Elsewhere equal placeholders are equal values.
	Unknown []string
}

// ProviderDecision is what the provider says about a change.
type ProviderDecision struct {
	// Changed is whether the provider sees any change.
	Changed bool
	// Replaces are the properties whose change forces a replacement.
	Replaces []string
	// DeleteBeforeReplace is the provider's wish for a replacement.
	DeleteBeforeReplace bool
}

// Differ asks a resource's provider what a change to it does;
// internal/plan/providerdiff asks the real provider plugins.
type Differ interface {
	Diff(ctx context.Context, c ProviderChange) (ProviderDecision, error)
}

// HoldsData reports whether a resource of this type holds data or an
// identity that its replacement or deletion loses, and what.
func HoldsData(resourceType string) (what string, ok bool) {
	what, ok = holdsData[resourceType]
	return what, ok
}

var holdsData = map[string]string{
	"gcp:pubsub/topic:Topic":               "messages",
	"gcp:pubsub/subscription:Subscription": "unacknowledged messages",
	"gcp:cloudtasks/queue:Queue":           "queued tasks",
	"gcp:serviceaccount/account:Account":   "identity and its grants",
	"gcp:container/cluster:Cluster":        "every workload on it",
	"kubernetes:core/v1:Namespace":         "every object in it",
	"gcp:logging/metric:Metric":            "metric history",
}

// Classify records on every resource of d what the engine does with it,
// the way `pulumi preview` decides, with p answering for the providers:
// a resource only in head is created, one only in base deleted (refused
// when protected); one in both whose inputs differ is what its provider
// says (same, update or replace). A replacement is delete-before-replace
// when the provider asks for it or the resource's deleteBeforeReplace
// option is set, create-before-delete otherwise (the engine's default), and
// refused while the resource is protected in both plans. As the engine
// does, a resource is also replaced when a resource in its replaceWith is,
// or its provider is; and its "<computed>" inputs that come from a replaced
// resource are unknown, so its provider is asked even if nothing else
// changed. Resources are visited each after everything it depends on (its
// parent, provider, dependencies and replaceWith), as the engine meets
// them. Replacements Classify finds among unchanged resources are added to
// Changed.
func (d *Diff) Classify(ctx context.Context, base, head *recorder.Plan, p Differ) error {
	if base == nil {
		base = &recorder.Plan{}
	}
	if head == nil {
		head = &recorder.Plan{}
	}
	baseBy := byURN(base.Resources)
	changed := map[string]*Resource{}
	for i := range d.Changed {
		changed[d.Changed[i].URN] = &d.Changed[i]
	}
	for i := range d.Added {
		d.Added[i].Action = Create
	}
	replaced := map[string]bool{}
	var more []Resource
	for _, h := range dependencyOrder(head.Resources) {
		b, ok := baseBy[h.URN]
		if !ok {
			continue
		}
		v, err := decide(ctx, b, h, replaced, p)
		if err != nil {
			return fmt.Errorf("%s: %w", h.URN, err)
		}
		r := changed[h.URN]
		if r == nil {
			if v.action == Same {
				continue
			}
			more = append(more, Resource{URN: h.URN, Type: h.Type, Name: h.Name})
			r = &more[len(more)-1]
			d.Unchanged--
		}
		v.apply(r)
		if v.action == Replace {
			replaced[h.URN] = true
			r.DeleteBeforeReplace = v.deleteBeforeReplace || h.DeleteBeforeReplace
			r.Refused = b.Protect && h.Protect
			r.Retained = b.RetainOnDelete
			r.Holds, _ = HoldsData(h.Type)
		}
	}
	d.Changed = append(d.Changed, more...)
	sort.SliceStable(d.Changed, func(i, j int) bool { return d.Changed[i].URN < d.Changed[j].URN })
	for i := range d.Removed {
		r := &d.Removed[i]
		b := baseBy[r.URN]
		r.Action = Delete
		r.Refused = b != nil && b.Protect
		r.Retained = b != nil && b.RetainOnDelete
		r.Holds, _ = HoldsData(r.Type)
	}
	d.Classified = true
	return nil
}

// dependencyOrder sorts resources so that each comes after the resources
// of the same plan it depends on; otherwise the plan's order stays.
func dependencyOrder(rs []*recorder.Resource) []*recorder.Resource {
	index := make(map[string]int, len(rs))
	for i, r := range rs {
		index[r.URN] = i
	}
	deps := make([][]int, len(rs))
	for i, r := range rs {
		add := func(u string) {
			if j, ok := index[u]; ok && j != i {
				deps[i] = append(deps[i], j)
			}
		}
		add(r.Parent)
		add(providerURN(r.Provider))
		for _, u := range r.Dependencies {
			add(u)
		}
		for _, us := range r.PropertyDependencies {
			for _, u := range us {
				add(u)
			}
		}
		for _, u := range r.ReplaceWith {
			add(u)
		}
	}
	out := make([]*recorder.Resource, 0, len(rs))
	state := make([]int, len(rs)) // 0 unvisited, 1 in progress, 2 done
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return // done, or a cycle the engine would have refused
		}
		state[i] = 1
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = 2
		out = append(out, rs[i])
	}
	for i := range rs {
		visit(i)
	}
	return out
}

type verdict struct {
	action              Action
	because             string
	deleteBeforeReplace bool
}

func (v verdict) apply(r *Resource) {
	r.Action, r.Because = v.action, v.because
}

// decide is the engine's step for a resource in both plans.
func decide(ctx context.Context, b, h *recorder.Resource, replaced map[string]bool, p Differ) (verdict, error) {
	same := reflect.DeepEqual(normal(b.Inputs), normal(h.Inputs))
	if !h.Custom {
		// A component: no provider; its state follows its inputs.
		if same {
			return verdict{action: Same, because: "only options or relations change"}, nil
		}
		return verdict{action: Update, because: "a component: only its recorded inputs change"}, nil
	}
	for _, u := range h.ReplaceWith {
		if replaced[u] {
			return verdict{action: Replace, because: "`" + ShortURN(u) + "` is replaced (replaceWith)"}, nil
		}
	}
	if h.Provider != "" || b.Provider != "" {
		bp, hp := providerURN(b.Provider), providerURN(h.Provider)
		switch {
		case replaced[hp]:
			return verdict{action: Replace, because: "its provider `" + ShortURN(hp) + "` is replaced"}, nil
		case bp != hp:
			return verdict{action: Replace, because: "its provider changes from " + orDefault(bp) + " to " + orDefault(hp)}, nil
		}
	}
	unknown := unknownInputs(h, replaced)
	if same && len(unknown) == 0 {
		return verdict{action: Same, because: "only options or relations change"}, nil
	}
	if p == nil {
		return verdict{}, fmt.Errorf("no provider to ask about the change")
	}
	dec, err := p.Diff(ctx, ProviderChange{URN: h.URN, Olds: b.Inputs, News: h.Inputs, Unknown: unknown})
	if err != nil {
		return verdict{}, err
	}
	switch {
	case !dec.Changed:
		return verdict{action: Same, because: "the provider sees no change"}, nil
	case len(dec.Replaces) > 0:
		because := codeList(dec.Replaces) + " forces a replacement"
		if len(dec.Replaces) > 1 {
			because = codeList(dec.Replaces) + " force a replacement"
		}
		if len(unknown) > 0 {
			because += " (" + codeList(unknown) + " from a replaced resource)"
		}
		if hidden := secretChanges(b, h); len(hidden) > 0 {
			because += " (" + codeList(hidden) + " secret in the plans, so its provider judged it unknown)"
		}
		return verdict{action: Replace, because: because, deleteBeforeReplace: dec.DeleteBeforeReplace}, nil
	}
	return verdict{action: Update}, nil
}

// unknownInputs are the top-level inputs of h that hold "<computed>"
// values coming from a replaced resource.
func unknownInputs(h *recorder.Resource, replaced map[string]bool) []string {
	var out []string
	for k, deps := range h.PropertyDependencies {
		if !slices.ContainsFunc(deps, func(u string) bool { return replaced[u] }) {
			continue
		}
		if v, ok := h.Inputs[k]; ok && hasComputed(v) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// secretChanges are the top-level inputs that differ and hold a secret on
// at least one side: the plans do not show whether its value changed.
func secretChanges(b, h *recorder.Resource) []string {
	var out []string
	for k, hv := range h.Inputs {
		bv := b.Inputs[k]
		if (hasSecret(bv) || hasSecret(hv)) && !reflect.DeepEqual(normal(bv), normal(hv)) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func hasSecret(v any) bool {
	return hasLeaf(v, func(s string) bool { return s == recorder.Secret || s == Blinded })
}

func hasComputed(v any) bool {
	return hasLeaf(v, func(s string) bool { return s == recorder.Computed })
}

func hasLeaf(v any, match func(string) bool) bool {
	switch x := v.(type) {
	case string:
		return match(x)
	case map[string]any:
		for _, e := range x {
			if hasLeaf(e, match) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasLeaf(e, match) {
				return true
			}
		}
	}
	return false
}

// normal makes recorded inputs comparable: numbers decoded from JSON and
// numbers recorded in-process compare by value.
func normal(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normal(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normal(e)
		}
		return out
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

// providerURN is the URN part of a provider reference ("<urn>::<id>"); the
// id of a planned provider differs from run to run.
func providerURN(ref string) string {
	if i := strings.LastIndex(ref, "::"); i >= 0 && strings.Contains(ref[:i], "pulumi:providers:") {
		return ref[:i]
	}
	return ref
}

func orDefault(urn string) string {
	if urn == "" {
		return "the default provider"
	}
	return "`" + ShortURN(urn) + "`"
}

func codeList(s []string) string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = "`" + x + "`"
	}
	return strings.Join(out, ", ")
}

// AtRisk lists the replacements and deletions of resources that hold data
// or identity (HoldsData), refused ones included: they are what a reviewer
// must not miss.
func (d *Diff) AtRisk() []Resource {
	var out []Resource
	for _, rs := range [][]Resource{d.Changed, d.Removed} {
		for _, r := range rs {
			if (r.Action == Replace || r.Action == Delete) && r.Holds != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// Count is the number of resources per action.
func (d *Diff) Count() map[Action]int {
	n := map[Action]int{}
	for _, rs := range [][]Resource{d.Added, d.Removed, d.Changed} {
		for _, r := range rs {
			n[r.Action]++
		}
	}
	return n
}

// Verdict is the action in words: "replace (delete-before-replace),
// refused (protect)".
func (r Resource) Verdict() string { return string(r.Action) + r.manner() }

// manner is how a replacement or deletion goes, or that it does not.
func (r Resource) manner() string {
	if r.Action != Replace && r.Action != Delete {
		return ""
	}
	s := ""
	if r.Action == Replace {
		if r.DeleteBeforeReplace {
			s = " (delete-before-replace)"
		} else {
			s = " (create-before-delete)"
		}
	}
	switch {
	case r.Refused:
		s += ", refused (protect)"
	case r.Retained:
		s += ", the old one left in the cloud (retainOnDelete)"
	}
	return s
}
