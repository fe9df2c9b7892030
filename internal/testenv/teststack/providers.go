package teststack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Pins are the provider plugins a stack's state may name: package (gcp,
// kubernetes) -> version ("7.38.0").
//
// A stack's state names the plugin of each of its providers: the package,
// a version and, optionally, where to download it (pluginDownloadURL, kept
// under "__internal" by current engines and at the top of the inputs by
// older ones; "__internal" may also rename the package or parameterize it).
// The engine loads those plugins for every provider of the state, when it
// updates or destroys the stack, and downloads one it lacks unless
// PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION is set
// (pkg/resource/deploy/providers/registry.go in the Pulumi CLI). Whoever
// can write a stack's state (a branch pull request, for dev and the test
// stacks) could so make a later update or destroy, on main, run a plugin
// of their choosing. Before the lifecycle touches a stack it checks the
// state against the pins and refuses anything else.
type Pins map[string]string

// PinnedModules are the SDK modules whose versions in go.mod pin each
// provider package: the program asks the engine for exactly that plugin.
var PinnedModules = map[string]string{
	"gcp":        "github.com/pulumi/pulumi-gcp/sdk/v7",
	"kubernetes": "github.com/pulumi/pulumi-kubernetes/sdk/v4",
}

// PinsFromGoMod reads the pins from the go.mod file at path: for each
// package of PinnedModules, the version go.mod requires of its SDK.
func PinsFromGoMod(path string) (Pins, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the provider pins: %w", err)
	}
	versions := map[string]string{}
	inRequire := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inRequire = true
			continue
		case inRequire && f[0] == ")":
			inRequire = false
			continue
		case f[0] == "require" && len(f) == 3:
			f = f[1:]
		case !inRequire:
			continue
		}
		if len(f) >= 2 {
			versions[f[0]] = f[1]
		}
	}
	pins := Pins{}
	for pkg, module := range PinnedModules {
		v, ok := versions[module]
		if !ok || !strings.HasPrefix(v, "v") {
			return nil, fmt.Errorf("reading the provider pins: %s requires no release of %s", path, module)
		}
		pins[pkg] = strings.TrimPrefix(v, "v")
	}
	return pins, nil
}

// String lists the pins, e.g. "gcp 7.38.0, kubernetes 4.25.0".
func (p Pins) String() string {
	var out []string
	for _, pkg := range slices.Sorted(maps.Keys(p)) {
		out = append(out, pkg+" "+p[pkg])
	}
	return strings.Join(out, ", ")
}

// ProviderError is a state refused because it names provider plugins other
// than the pinned ones.
type ProviderError struct {
	Stack    string
	Pins     Pins
	Problems []string
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("the state of stack %s names provider plugins other than the pinned ones (%s), which the engine would load "+
		"when it updates or destroys the stack; refusing to touch it:\n  %s\n"+
		"Whoever can write this stack's state (a pull request acting as the dev deployer can) may have planted them: "+
		"inspect it (pulumi stack export --stack %s) before you restore a good checkpoint or remove the stack",
		e.Stack, e.Pins, strings.Join(e.Problems, "\n  "), shortName(e.Stack))
}

// stateResource is what the check reads of a resource of a state.
type stateResource struct {
	URN      string                     `json:"urn"`
	Type     string                     `json:"type"`
	Custom   bool                       `json:"custom"`
	Provider string                     `json:"provider"`
	Inputs   map[string]json.RawMessage `json:"inputs"`
	Outputs  map[string]json.RawMessage `json:"outputs"`
}

const providerTypePrefix = "pulumi:providers:"

// CheckProviders returns what in a state (the deployment of
// `pulumi stack export`, version 3) names a plugin other than the pinned
// ones: a provider of another package, of another version, with a
// download URL, a renamed or parameterized package, or any value of
// "__internal" (secret-wrapped values included, which the export does not
// show); a resource of a package without a pinned provider; a reference to
// a provider the state does not hold.
func CheckProviders(deployment json.RawMessage, pins Pins) []string {
	if len(bytes.TrimSpace(deployment)) == 0 || string(bytes.TrimSpace(deployment)) == "null" {
		return nil
	}
	var d struct {
		Resources []stateResource `json:"resources"`
		Pending   []struct {
			Resource stateResource `json:"resource"`
		} `json:"pending_operations"`
	}
	if err := json.Unmarshal(deployment, &d); err != nil {
		return []string{fmt.Sprintf("the state does not parse: %v", err)}
	}
	resources := d.Resources
	for _, p := range d.Pending {
		resources = append(resources, p.Resource)
	}
	providers := map[string]bool{}
	for _, r := range resources {
		if strings.HasPrefix(r.Type, providerTypePrefix) {
			providers[r.URN] = true
		}
	}
	var problems []string
	add := func(r stateResource, format string, args ...any) {
		problems = append(problems, r.URN+": "+fmt.Sprintf(format, args...))
	}
	for _, r := range resources {
		if pkg, ok := strings.CutPrefix(r.Type, providerTypePrefix); ok {
			pin, pinned := pins[pkg]
			if !pinned {
				add(r, "a provider of package %q, which is not pinned", pkg)
				continue
			}
			for _, part := range []struct {
				what   string
				values map[string]json.RawMessage
			}{{"inputs", r.Inputs}, {"outputs", r.Outputs}} {
				problems = append(problems, checkProviderValues(r.URN, part.what, part.values, pin, part.what == "inputs")...)
			}
			continue
		}
		if !r.Custom {
			continue // components and the stack: no plugin
		}
		pkg, _, _ := strings.Cut(r.Type, ":")
		if _, pinned := pins[pkg]; !pinned {
			add(r, "a resource of package %q, which has no pinned provider", pkg)
		}
		if r.Provider != "" {
			i := strings.LastIndex(r.Provider, "::")
			if i < 0 || !providers[r.Provider[:i]] {
				add(r, "its provider %s is not a provider of the state", r.Provider)
			}
		}
	}
	return problems
}

// checkProviderValues checks the inputs or outputs of a pinned provider.
func checkProviderValues(urn, what string, values map[string]json.RawMessage, pin string, versionRequired bool) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, urn+": "+what+": "+fmt.Sprintf(format, args...))
	}
	if raw, ok := values["version"]; ok {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			add("version %s is not a plain string", raw)
		} else if v != pin {
			add("version %q, not the pinned %s", v, pin)
		}
	} else if versionRequired {
		add("no version (the engine would load whichever it finds)")
	}
	if raw, ok := values["pluginDownloadURL"]; ok {
		add("pluginDownloadURL %s", raw)
	}
	if raw, ok := values["__internal"]; ok {
		var internal map[string]json.RawMessage
		if err := json.Unmarshal(raw, &internal); err != nil {
			add("__internal %s is not an object", raw)
		}
		for _, k := range slices.Sorted(maps.Keys(internal)) {
			add("__internal.%s %s", k, internal[k])
		}
	}
	return problems
}

// checkProviders refuses, with a ProviderError, a stack whose state names
// other plugins than m.Pins (no check when Pins is nil).
func (m *Manager) checkProviders(ctx context.Context, ws auto.Workspace, name string) error {
	if m.Pins == nil {
		return nil
	}
	dep, err := ws.ExportStack(ctx, name)
	if err != nil {
		return stepErr(name, "export state", err)
	}
	if problems := CheckProviders(dep.Deployment, m.Pins); len(problems) > 0 {
		return stepErr(name, "check providers", &ProviderError{Stack: name, Pins: m.Pins, Problems: problems})
	}
	return nil
}

// ProvidersResult says what CheckStack found.
type ProvidersResult struct {
	Name    string
	Missing bool
	// Providers is the number of provider resources in the state.
	Providers int
}

// CheckStack checks one stack's state against m.Pins, whatever its name
// (dev and prod too: it only reads). A missing stack has nothing to check.
func (m *Manager) CheckStack(ctx context.Context, name string) (*ProvidersResult, error) {
	if err := ValidateName(name, nil); err != nil {
		return nil, err
	}
	if m.Pins == nil {
		return nil, fmt.Errorf("stack %s: no provider pins to check against", name)
	}
	ws, full, exists, err := m.openStack(ctx, name)
	if err != nil {
		return nil, err
	}
	if !exists {
		return &ProvidersResult{Name: name, Missing: true}, nil
	}
	dep, err := ws.ExportStack(ctx, full)
	if err != nil {
		return nil, stepErr(name, "export state", err)
	}
	if problems := CheckProviders(dep.Deployment, m.Pins); len(problems) > 0 {
		return nil, stepErr(name, "check providers", &ProviderError{Stack: full, Pins: m.Pins, Problems: problems})
	}
	n := 0
	var d struct {
		Resources []stateResource `json:"resources"`
	}
	if len(dep.Deployment) > 0 && json.Unmarshal(dep.Deployment, &d) == nil {
		for _, r := range d.Resources {
			if strings.HasPrefix(r.Type, providerTypePrefix) {
				n++
			}
		}
	}
	return &ProvidersResult{Name: full, Providers: n}, nil
}
