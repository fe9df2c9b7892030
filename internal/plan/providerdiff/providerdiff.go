// Package providerdiff asks the real provider plugins what they would do with
// a change to a resource, the way the Pulumi engine asks them during a
// preview, with no cloud account and no cluster. Each plugin
// (pulumi-resource-gcp, pulumi-resource-kubernetes, ...) is started once, the
// first time a resource of its package is diffed, with the address of a
// minimal engine served in-process; it is configured offline (no credentials,
// no kubeconfig: the Kubernetes provider runs in its cluster-unreachable mode,
// in which it still diffs and still knows its immutable fields), then sent
// the engine's calls: Check of the old inputs, Check of the new ones (with the
// old as olds), and Diff of the two, with what the provider plans for the old
// inputs in a preview Create standing in for the old state. Provider
// resources (pulumi:providers:<pkg>) get DiffConfig.
//
// Values a recorded plan does not know (placeholders such as "<computed>")
// are sent to Check as unknowns, which providers do not validate. For Diff,
// a placeholder on both sides at the same path compares equal (the value is
// known at preview, from the state, and nothing here changes it), unless
// its property is listed in Change.Unknown (it comes from a resource that is
// being replaced, so the engine would send it as unknown); a placeholder on
// the new side only stays unknown; one on the old side only is a value that
// differs from the new one.
package providerdiff

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Options say where the plugins are and how to configure them.
type Options struct {
	// Binary returns the plugin binary of a package ("gcp",
	// "kubernetes"), or an error that says how to install it. It is called
	// the first time a resource of the package is diffed.
	Binary func(pkg string) (string, error)
	// Config is each package's provider configuration, keys without the
	// package prefix (gcp: "project"). The Kubernetes provider needs none.
	Config map[string]map[string]string
	// Placeholders are the string values that stand for a value the plan
	// does not know ("<computed>", "<secret>").
	Placeholders []string
}

// Change is one resource's recorded inputs before and after.
type Change struct {
	URN        string
	Olds, News map[string]any
	// Unknown are top-level input properties whose placeholders in News
	// are unknown to the engine: they come from a resource being replaced.
	Unknown []string
}

// Result is what the provider decided.
type Result struct {
	// Changed is whether the provider sees any change.
	Changed bool
	// Replaces are the properties whose change forces a replacement;
	// empty for an update in place.
	Replaces []string
	// Diffs are the properties that differ, as the provider reports them.
	Diffs []string
	// DeleteBeforeReplace is the provider's wish to delete the old
	// resource before creating its replacement (a resource option can
	// overrule it).
	DeleteBeforeReplace bool
}

// Replace reports whether the change replaces the resource.
func (r Result) Replace() bool { return r.Changed && len(r.Replaces) > 0 }

// Set is the provider plugins of one run, started on demand. It is safe
// for concurrent use.
type Set struct {
	opts        Options
	placeholder map[string]bool

	mu      sync.Mutex
	closed  bool
	engine  *engine
	dir     string
	plugins map[string]*starting
}

type starting struct {
	once    sync.Once
	p       *process
	err     error
	started bool // under Set.mu
}

// New returns a Set; nothing is started until the first Diff.
func New(opts Options) *Set {
	s := &Set{opts: opts, placeholder: map[string]bool{}, plugins: map[string]*starting{}}
	for _, p := range opts.Placeholders {
		s.placeholder[p] = true
	}
	return s
}

// Close stops every plugin started and the engine; a plugin still
// starting is waited for and stopped.
func (s *Set) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	plugins := make([]*starting, 0, len(s.plugins))
	for _, st := range s.plugins {
		plugins = append(plugins, st)
	}
	s.mu.Unlock()
	for _, st := range plugins {
		st.once.Do(func() { st.err = errClosed })
		if st.p != nil {
			st.p.kill()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.engine != nil {
		s.engine.stop()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// Started lists the packages whose plugins have been started.
func (s *Set) Started() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for pkg, st := range s.plugins {
		if st.started {
			out = append(out, pkg)
		}
	}
	slices.Sort(out)
	return out
}

// Package is the package whose plugin decides about resources of type
// typ ("gcp" for "gcp:pubsub/topic:Topic"; "kubernetes" for the provider
// resource "pulumi:providers:kubernetes"), and whether typ is a provider.
func Package(typ string) (pkg string, provider bool) {
	if p, ok := strings.CutPrefix(typ, "pulumi:providers:"); ok {
		return p, true
	}
	pkg, _, _ = strings.Cut(typ, ":")
	return pkg, false
}

func (s *Set) plugin(ctx context.Context, pkg string) (*process, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	st, ok := s.plugins[pkg]
	if !ok {
		st = &starting{}
		s.plugins[pkg] = st
	}
	s.mu.Unlock()
	st.once.Do(func() {
		st.p, st.err = s.start(ctx, pkg)
		s.mu.Lock()
		st.started = st.p != nil
		s.mu.Unlock()
	})
	return st.p, st.err
}

func (s *Set) start(ctx context.Context, pkg string) (*process, error) {
	if s.opts.Binary == nil {
		return nil, fmt.Errorf("no plugin binary for package %s", pkg)
	}
	bin, err := s.opts.Binary(pkg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	if s.engine == nil {
		if s.dir, err = os.MkdirTemp("", "providerdiff-"); err == nil {
			s.engine, err = startEngine()
		}
	}
	engineAddr, dir := "", s.dir
	if s.engine != nil {
		engineAddr = s.engine.addr
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p, err := start(ctx, pkg, bin, engineAddr, pluginEnv(dir))
	if err != nil {
		return nil, err
	}
	if err := p.configure(ctx, s.opts.Config[pkg]); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// Diff asks the resource's provider what the change does.
func (s *Set) Diff(ctx context.Context, c Change) (Result, error) {
	urn := resource.URN(c.URN)
	if !urn.IsValid() {
		return Result{}, fmt.Errorf("not a URN: %q", c.URN)
	}
	typ := string(urn.Type())
	pkg, isProvider := Package(typ)
	p, err := s.plugin(ctx, pkg)
	if err != nil {
		return Result{}, err
	}
	olds, news := s.properties(c.Olds), s.properties(c.News)
	unknown := map[resource.PropertyKey]bool{}
	for _, k := range c.Unknown {
		unknown[resource.PropertyKey(k)] = true
	}
	if isProvider {
		oldIn, newIn := settleMap(olds, news, unknown)
		return p.diffConfig(ctx, urn, oldIn, newIn)
	}
	return p.diff(ctx, urn, olds, news, unknown)
}

// properties turns recorded inputs into the engine's property values,
// placeholders becoming unknowns.
func (s *Set) properties(m map[string]any) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[resource.PropertyKey(k)] = s.value(v)
	}
	return out
}

func (s *Set) value(v any) resource.PropertyValue {
	switch x := v.(type) {
	case string:
		if s.placeholder[x] {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return resource.NewStringProperty(x)
	case map[string]any:
		return resource.NewObjectProperty(s.properties(x))
	case []any:
		arr := make([]resource.PropertyValue, len(x))
		for i, e := range x {
			arr[i] = s.value(e)
		}
		return resource.NewArrayProperty(arr)
	default:
		return resource.NewPropertyValue(v)
	}
}

// The values placeholders become for Diff: the same one on both sides, or
// one for an old value the plan does not know.
var (
	placeholderBoth = resource.NewStringProperty("offline-placeholder")
	placeholderOld  = resource.NewStringProperty("offline-placeholder-old")
)

// settleMap prepares checked old and new inputs for Diff (see the package
// documentation): the old side ends up fully known.
func settleMap(old, new resource.PropertyMap, unknown map[resource.PropertyKey]bool) (resource.PropertyMap, resource.PropertyMap) {
	oo, nn := resource.PropertyMap{}, resource.PropertyMap{}
	for k, v := range old {
		if nv, ok := new[k]; ok {
			oo[k], nn[k] = settle(v, nv, unknown[k])
		} else {
			oo[k] = known(v)
		}
	}
	for k, v := range new {
		if _, ok := old[k]; !ok {
			nn[k] = v
		}
	}
	return oo, nn
}

// settle prepares one value; unknown says the value comes from a
// resource being replaced.
func settle(old, new resource.PropertyValue, unknown bool) (resource.PropertyValue, resource.PropertyValue) {
	switch {
	case old.IsSecret():
		o, n := settle(old.SecretValue().Element, new, unknown)
		return resource.MakeSecret(o), n
	case new.IsSecret():
		o, n := settle(old, new.SecretValue().Element, unknown)
		return o, resource.MakeSecret(n)
	case old.IsComputed() && new.IsComputed():
		if unknown {
			return placeholderOld, new
		}
		return placeholderBoth, placeholderBoth
	case old.IsObject() && new.IsObject():
		keys := map[resource.PropertyKey]bool{}
		if unknown {
			for k := range new.ObjectValue() {
				keys[k] = true
			}
		}
		o, n := settleMap(old.ObjectValue(), new.ObjectValue(), keys)
		return resource.NewObjectProperty(o), resource.NewObjectProperty(n)
	case old.IsArray() && new.IsArray():
		o, n := old.ArrayValue(), new.ArrayValue()
		oo, nn := make([]resource.PropertyValue, len(o)), make([]resource.PropertyValue, len(n))
		for i := range o {
			if i < len(n) {
				oo[i], nn[i] = settle(o[i], n[i], unknown)
			} else {
				oo[i] = known(o[i])
			}
		}
		copy(nn[min(len(o), len(n)):], n[min(len(o), len(n)):])
		return resource.NewArrayProperty(oo), resource.NewArrayProperty(nn)
	default:
		return known(old), new
	}
}

// known replaces the unknowns of an old value.
func known(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsComputed() || v.IsOutput():
		return placeholderOld
	case v.IsSecret():
		return resource.MakeSecret(known(v.SecretValue().Element))
	case v.IsObject():
		m := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			m[k] = known(e)
		}
		return resource.NewObjectProperty(m)
	case v.IsArray():
		arr := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			arr[i] = known(e)
		}
		return resource.NewArrayProperty(arr)
	}
	return v
}

// diff is the engine's sequence for a resource: Check old, Check new, Diff.
func (p *process) diff(ctx context.Context, urn resource.URN, olds, news resource.PropertyMap, unknown map[resource.PropertyKey]bool) (Result, error) {
	// One seed for both checks: a provider that generates a name from it
	// generates the same one for the old and the new inputs.
	seed := sha256.Sum256([]byte(urn))
	checkedOld, err := p.check(ctx, urn, nil, olds, seed[:], "old")
	if err != nil {
		return Result{}, err
	}
	checkedNew, err := p.check(ctx, urn, checkedOld, news, seed[:], "new")
	if err != nil {
		return Result{}, err
	}
	oldIn, newIn := settleMap(checkedOld, checkedNew, unknown)
	state, err := p.previewCreate(ctx, urn, oldIn)
	if err != nil {
		return Result{}, err
	}
	if _, ok := state["__inputs"]; !ok && p.pkg == "kubernetes" {
		// The Kubernetes provider keeps the inputs in its state, beside
		// the live object; its offline preview leaves them out.
		state["__inputs"] = resource.NewObjectProperty(oldIn)
	}
	label := fmt.Sprintf("%s.Diff(%s)", p.pkg, urn)
	mstate, err := marshal(label+".olds", state)
	if err != nil {
		return Result{}, err
	}
	mold, err := marshal(label+".oldInputs", oldIn)
	if err != nil {
		return Result{}, err
	}
	mnew, err := marshal(label+".news", newIn)
	if err != nil {
		return Result{}, err
	}
	resp, err := p.client.Diff(ctx, &pulumirpc.DiffRequest{
		Id:        "offline",
		Urn:       string(urn),
		Name:      urn.Name(),
		Type:      string(urn.Type()),
		Olds:      mstate,
		OldInputs: mold,
		News:      mnew,
	})
	if err != nil {
		return Result{}, p.failed("Diff of "+string(urn), err)
	}
	return result(resp, oldIn, newIn), nil
}

// previewCreate is the old state: what the provider plans for the old
// inputs when asked to create them in a preview (the engine's state holds
// what the provider computed, such as the labels it derives from the inputs,
// and a Diff against bare inputs would see those as changes). Values known
// only after a real create stay unknown.
func (p *process) previewCreate(ctx context.Context, urn resource.URN, inputs resource.PropertyMap) (resource.PropertyMap, error) {
	label := fmt.Sprintf("%s.Create(%s)", p.pkg, urn)
	props, err := marshal(label+".properties", inputs)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Create(ctx, &pulumirpc.CreateRequest{
		Urn:        string(urn),
		Name:       urn.Name(),
		Type:       string(urn.Type()),
		Properties: props,
		Preview:    true,
	})
	if err != nil {
		return nil, p.failed("preview Create of "+string(urn), err)
	}
	return unmarshal(label+".properties", resp.GetProperties())
}

func (p *process) check(ctx context.Context, urn resource.URN, olds, news resource.PropertyMap, seed []byte, side string) (resource.PropertyMap, error) {
	label := fmt.Sprintf("%s.Check(%s)", p.pkg, urn)
	molds, err := marshal(label+".olds", olds)
	if err != nil {
		return nil, err
	}
	mnews, err := marshal(label+".news", news)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Check(ctx, &pulumirpc.CheckRequest{
		Urn:        string(urn),
		Name:       urn.Name(),
		Type:       string(urn.Type()),
		Olds:       molds,
		News:       mnews,
		RandomSeed: seed,
	})
	if err != nil {
		return nil, p.failed("Check of "+string(urn), err)
	}
	if f := resp.GetFailures(); len(f) > 0 {
		var msgs []string
		for _, x := range f {
			if x.GetProperty() != "" {
				msgs = append(msgs, x.GetProperty()+": "+x.GetReason())
			} else {
				msgs = append(msgs, x.GetReason())
			}
		}
		return nil, fmt.Errorf("the %s provider rejects the %s inputs of %s: %s", p.pkg, side, urn, strings.Join(msgs, "; "))
	}
	return unmarshal(label+".inputs", resp.GetInputs())
}

func (p *process) diffConfig(ctx context.Context, urn resource.URN, oldIn, newIn resource.PropertyMap) (Result, error) {
	label := fmt.Sprintf("%s.DiffConfig(%s)", p.pkg, urn)
	mold, err := marshal(label+".olds", oldIn)
	if err != nil {
		return Result{}, err
	}
	mnew, err := marshal(label+".news", newIn)
	if err != nil {
		return Result{}, err
	}
	resp, err := p.client.DiffConfig(ctx, &pulumirpc.DiffRequest{
		Id:        "offline",
		Urn:       string(urn),
		Name:      urn.Name(),
		Type:      string(urn.Type()),
		Olds:      mold,
		OldInputs: mold,
		News:      mnew,
	})
	if err != nil {
		return Result{}, p.failed("DiffConfig of "+string(urn), err)
	}
	return result(resp, oldIn, newIn), nil
}

// result reads a DiffResponse as the engine does: a replacement is a
// property in Replaces or a replacing kind in the detailed diff, and an
// unknown answer is a change when the inputs differ.
func result(resp *pulumirpc.DiffResponse, oldIn, newIn resource.PropertyMap) Result {
	r := Result{DeleteBeforeReplace: resp.GetDeleteBeforeReplace()}
	switch resp.GetChanges() {
	case pulumirpc.DiffResponse_DIFF_SOME:
		// With a detailed diff that names nothing, the change is in
		// values only a real create computes (the offline state leaves
		// them unknown); a real state has them, and the same inputs
		// plan no change.
		r.Changed = !resp.GetHasDetailedDiff() || len(resp.GetDetailedDiff()) > 0 || len(resp.GetReplaces()) > 0
	case pulumirpc.DiffResponse_DIFF_NONE:
	default:
		d := oldIn.Diff(newIn)
		r.Changed = d != nil && d.AnyChanges()
	}
	r.Replaces = append(r.Replaces, resp.GetReplaces()...)
	for path, d := range resp.GetDetailedDiff() {
		switch d.GetKind() {
		case pulumirpc.PropertyDiff_ADD_REPLACE, pulumirpc.PropertyDiff_DELETE_REPLACE, pulumirpc.PropertyDiff_UPDATE_REPLACE:
			r.Replaces = append(r.Replaces, path)
		}
	}
	if resp.GetHasDetailedDiff() {
		for path := range resp.GetDetailedDiff() {
			r.Diffs = append(r.Diffs, path)
		}
	} else {
		r.Diffs = append(r.Diffs, resp.GetDiffs()...)
	}
	r.Replaces = sortedUnique(r.Replaces)
	r.Diffs = sortedUnique(r.Diffs)
	if !r.Changed {
		r.Replaces, r.DeleteBeforeReplace = nil, false
	}
	return r
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
