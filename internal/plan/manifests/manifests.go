// Package manifests turns the Kubernetes resources of a recorded plan into
// the objects the Kubernetes provider sends to the API server, and writes
// them as YAML, one object per file.
package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// Object is one Kubernetes object.
type Object struct {
	// Resource is the plan resource the object comes from.
	Resource *recorder.Resource
	Body     map[string]any
}

// Kind is the object's kind ("Deployment").
func (o Object) Kind() string { s, _ := o.Body["kind"].(string); return s }

// Namespace is the object's metadata.namespace ("" for cluster objects).
func (o Object) Namespace() string { s, _ := lookup(o.Body, "metadata", "namespace"); return s }

// Name is the object's metadata.name.
func (o Object) Name() string { s, _ := lookup(o.Body, "metadata", "name"); return s }

// FileName is where Write puts the object.
func (o Object) FileName() string {
	parts := []string{strings.ToLower(o.Kind())}
	if ns := o.Namespace(); ns != "" {
		parts = append(parts, ns)
	}
	parts = append(parts, o.Name())
	return strings.Join(parts, "-") + ".yaml"
}

// FromPlan returns every Kubernetes object of the plan (provider
// configurations are not objects), namespaces first.
func FromPlan(p *recorder.Plan) []Object {
	var out []Object
	for _, r := range p.Resources {
		if !strings.HasPrefix(r.Type, "kubernetes:") || !r.Custom {
			continue
		}
		out = append(out, Object{Resource: r, Body: r.Inputs})
	}
	sort.SliceStable(out, func(i, j int) bool {
		ni, nj := out[i].Kind() == "Namespace", out[j].Kind() == "Namespace"
		if ni != nj {
			return ni
		}
		return out[i].FileName() < out[j].FileName()
	})
	return out
}

// Write replaces dir's contents with one YAML file per object.
func Write(dir string, objects []Object) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, o := range objects {
		if o.Name() == "" || o.Kind() == "" {
			return fmt.Errorf("%s %s: object without kind or name", o.Resource.Type, o.Resource.Name)
		}
		b, err := yaml.Marshal(o.Body)
		if err != nil {
			return fmt.Errorf("%s: %w", o.FileName(), err)
		}
		header := fmt.Sprintf("# %s %s (provider %s)\n", o.Resource.Type, o.Resource.Name, providerName(o.Resource.Provider))
		if err := os.WriteFile(filepath.Join(dir, o.FileName()), append([]byte(header), b...), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// providerName reads the provider's logical name from its reference
// ("<urn>::<id>", the urn being urn:pulumi:<stack>::<project>::<type>::<name>).
func providerName(ref string) string {
	parts := strings.Split(ref, "::")
	if len(parts) < 4 {
		return "default"
	}
	return parts[3]
}

func lookup(m map[string]any, keys ...string) (string, bool) {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur = mm[k]
	}
	s, ok := cur.(string)
	return s, ok
}
