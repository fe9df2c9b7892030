// Package upgrade reads a stack's state, as an earlier release deployed it,
// and says what must change in that state before this release's first
// `pulumi up`, and what that up changes that `pulumi preview --diff` does
// not show. cmd/upgrade runs it on `pulumi stack export` and carries out
// the state changes (`pulumi stack export`, then `pulumi stack import`);
// CHANGELOG.md says, per release,
// when to run it.
//
// What it knows, each a step of the CHANGELOG's upgrade from v0.1.0:
//
//   - A Kubernetes provider whose recorded kubeconfig no parser accepts
//     (v0.1.0 wrote one, so its first up failed at the first Kubernetes
//     object): the provider compares its new configuration with the
//     recorded one, fails to parse it, and every later preview and up
//     fails at once. It created nothing, so removing it from the state
//     loses nothing; a provider that objects use is never removed.
//   - The CronJob completions metric (monitoring.MetricCronJobCompleted),
//     which stacks declared up to v0.1.0 and the bootstrap owns since: it
//     leaves the stack's state without being deleted from Google (with
//     the dependencies the dashboard and alerts record on it, which
//     `pulumi state delete` would refuse to break), and the
//     bootstrap imports it (`pulumi import`), so the overdue alerts never
//     read a missing metric and the bootstrap's create never meets a 409.
//   - Notices: deployers whose actAs grants the up replaces, and resources
//     that become protected.
package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
)

// Types of the state's resources that the steps look for.
const (
	TypeKubernetesProvider = "pulumi:providers:kubernetes"
	TypeLogMetric          = "gcp:logging/metric:Metric"
	TypeServiceAccountIAM  = "gcp:serviceaccount/iAMMember:IAMMember"
	typeStack              = "pulumi:pulumi:Stack"
)

// secretSig marks a secret value in an exported deployment.
const secretSig = "4dabf18193072939515e22adb298388d"

// Resource is a resource of an exported deployment (`pulumi stack export
// --show-secrets`).
type Resource struct {
	URN      string         `json:"urn"`
	Type     string         `json:"type"`
	Custom   bool           `json:"custom"`
	ID       string         `json:"id"`
	Parent   string         `json:"parent"`
	Provider string         `json:"provider"`
	Protect  bool           `json:"protect"`
	Inputs   map[string]any `json:"inputs"`
	Outputs  map[string]any `json:"outputs"`
}

// Deployment is the part of `pulumi stack export` the steps read.
type Deployment struct {
	Deployment struct {
		Resources []Resource `json:"resources"`
	} `json:"deployment"`
}

// ParseExport reads the output of `pulumi stack export`.
func ParseExport(data []byte) ([]Resource, error) {
	var d Deployment
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("reading the stack export: %w", err)
	}
	return d.Deployment.Resources, nil
}

// Stack is what the stack file says that the steps compare with the state.
type Stack struct {
	Name      string
	Deployers []string
	// DeployersKnown is false for a stack without a stack file here (a test
	// stack made elsewhere): its deployers are not compared.
	DeployersKnown bool
	Protect        bool
}

// Step is a Pulumi CLI command.
type Step struct {
	// Args are the CLI's arguments, without "pulumi".
	Args []string `json:"args"`
	// Why it is needed.
	Why string `json:"why"`
}

// String is the command as a person types it.
func (s Step) String() string {
	quoted := make([]string, len(s.Args))
	for i, a := range s.Args {
		quoted[i] = shellQuote(a)
	}
	return "pulumi " + strings.Join(quoted, " ")
}

// Removal is a resource to remove from a stack's state.
type Removal struct {
	URN string `json:"urn"`
	// Name is the resource's name in Google, where it has one.
	Name string `json:"name,omitempty"`
	Why  string `json:"why"`
}

// Report is what a stack's state needs.
type Report struct {
	Stack string `json:"stack"`
	// State are the resources to remove from the stack's state (and from
	// the dependencies other resources record on them) before its next up.
	// Nothing in Google changes.
	State []Removal `json:"state"`
	// Bootstrap are the commands the bootstrap's owner runs in bootstrap/
	// before the bootstrap's next up.
	Bootstrap []Step `json:"bootstrap"`
	// Deletes are what the stack's next up deletes on purpose: nothing of
	// this release reads them.
	Deletes []Removal `json:"deletes"`
	// Notices say what the stack's next up changes that preview does not
	// show.
	Notices []string `json:"notices"`
}

// Pending reports whether the stack's state must change before its next up.
func (r Report) Pending() bool { return len(r.State) > 0 }

// Inspect finds what the state of a stack needs. bootstrapStack names the
// bootstrap's stack in the commands for it ("" leaves --stack out).
func Inspect(st Stack, resources []Resource, bootstrapStack string) (Report, error) {
	r := Report{Stack: st.Name}
	users := map[string][]string{} // provider URN -> resources using it
	for _, res := range resources {
		if i := strings.LastIndex(res.Provider, "::"); i > 0 {
			users[res.Provider[:i]] = append(users[res.Provider[:i]], res.URN)
		}
	}
	for _, res := range resources {
		if res.Type != TypeKubernetesProvider || res.Inputs["kubeconfig"] == nil {
			continue
		}
		kubeconfig, err := plain(res.Inputs["kubeconfig"])
		if err != nil {
			return Report{}, fmt.Errorf("the kubeconfig of %s: %w", res.URN, err)
		}
		if _, err := clientcmd.Load([]byte(kubeconfig)); err == nil {
			continue
		} else if n := len(users[res.URN]); n > 0 {
			return Report{}, fmt.Errorf("the Kubernetes provider %s records a kubeconfig that does not parse (%v), and %d resources use it: "+
				"this command removes only a provider that created nothing", res.URN, firstLine(err.Error()), n)
		} else {
			r.State = append(r.State, Removal{
				URN: res.URN,
				Why: fmt.Sprintf("the recorded kubeconfig does not parse (%v), so every preview and up fails comparing with it; the provider created nothing",
					firstLine(err.Error())),
			})
		}
	}
	for _, res := range resources {
		name, _ := plain(res.Inputs["name"])
		if res.Type != TypeLogMetric {
			continue
		}
		if strings.HasPrefix(name, monitoring.MetricCronJobCompleted+"-") {
			r.Deletes = append(r.Deletes, Removal{
				URN:  res.URN,
				Name: name,
				Why: "the stack's own completions counter (a test stack's, named with its suffix): " +
					"since v0.2.0 its overdue alerts read the bootstrap's counter of the project and nothing reads this one",
			})
			continue
		}
		if name != monitoring.MetricCronJobCompleted {
			continue
		}
		project, _ := plain(res.Inputs["project"])
		r.State = append(r.State, Removal{
			URN:  res.URN,
			Name: name,
			Why: fmt.Sprintf("the bootstrap owns the completions metric of project %s since v0.2.0: "+
				"this leaves it in Google (the overdue alerts go on reading it) and only removes the stack's claim, "+
				"which its next up would otherwise act on by deleting it", project),
		})
		args := []string{"import"}
		if bootstrapStack != "" {
			args = append(args, "--stack", bootstrapStack)
		}
		args = append(args, "--yes", "--protect=false", "--generate-code=false", TypeLogMetric, "cronjob-completed-"+project, project+" "+name)
		if !slices.ContainsFunc(r.Bootstrap, func(s Step) bool { return slices.Equal(s.Args, args) }) {
			r.Bootstrap = append(r.Bootstrap, Step{
				Args: args,
				Why: fmt.Sprintf("the bootstrap adopts the metric %s of project %s as it is, instead of creating it (409); "+
					"its next up brings the filter and description to this release's", name, project),
			})
		}
	}
	r.Notices = append(r.Notices, deployerNotices(st, resources)...)
	if st.Protect {
		var n int
		for _, res := range resources {
			if !res.Protect && res.Type != typeStack && !strings.HasPrefix(res.Type, "pulumi:providers:") {
				n++
			}
		}
		if n > 0 {
			r.Notices = append(r.Notices, fmt.Sprintf("asyncjobs:protect is true: the next up protects %d more resources of this stack "+
				"(every one, where v0.1.0 protected the stateful ones); preview --diff does not show protection", n))
		}
	}
	return r, nil
}

// deployerNotices compares the members granted actAs as deployers in the
// state with the stack file's deployers.
func deployerNotices(st Stack, resources []Resource) []string {
	if !st.DeployersKnown {
		return nil
	}
	recorded := map[string]bool{}
	for _, res := range resources {
		if res.Type != TypeServiceAccountIAM || !strings.Contains(urnName(res.URN), "-deployer-") {
			continue
		}
		if role, _ := plain(res.Inputs["role"]); role != "roles/iam.serviceAccountUser" {
			continue
		}
		if m, err := plain(res.Inputs["member"]); err == nil && m != "" {
			recorded[m] = true
		}
	}
	var gone, added []string
	for m := range recorded {
		if !slices.Contains(st.Deployers, m) {
			gone = append(gone, m)
		}
	}
	for _, m := range st.Deployers {
		if len(recorded) > 0 && !recorded[m] {
			added = append(added, m)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	slices.Sort(gone)
	slices.Sort(added)
	return []string{fmt.Sprintf("the deployers change: the next up grants actAs on the worker's accounts to %s and removes it from %s, "+
		"so run that up (and every later one) as the new deployer; a pipeline still running as the old one stops at the actAs gate",
		orNone(added), strings.Join(gone, ", "))}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no one new"
	}
	return strings.Join(s, ", ")
}

// urnName is a URN's logical name.
func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// plain is a string value of an export, secret or not; a secret exported
// without --show-secrets is an error, never read as empty.
func plain(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case map[string]any:
		if v[secretSig] == nil {
			return "", fmt.Errorf("not a string but an object")
		}
		p, ok := v["plaintext"].(string)
		if !ok {
			return "", fmt.Errorf("a secret exported without its value (pulumi stack export --show-secrets)")
		}
		var s string
		if err := json.Unmarshal([]byte(p), &s); err != nil {
			return "", fmt.Errorf("a secret that is not a string: %w", err)
		}
		return s, nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("a %T, not a string", v)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// shellQuote quotes a word for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Remove removes resources from an exported deployment (`pulumi stack
// export`, secrets encrypted or not), and every dependency the remaining
// resources record on them, keeping everything else as it was; the result
// is for `pulumi stack import`. A resource that is the parent or the
// provider of one that stays is never removed.
func Remove(export []byte, urns []string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(export, &doc); err != nil {
		return nil, fmt.Errorf("reading the stack export: %w", err)
	}
	dep, _ := doc["deployment"].(map[string]any)
	resources, ok := dep["resources"].([]any)
	if !ok {
		return nil, errors.New("the stack export has no deployment.resources")
	}
	gone := map[string]bool{}
	for _, u := range urns {
		gone[u] = true
	}
	found := map[string]bool{}
	var kept []any
	for _, raw := range resources {
		res, _ := raw.(map[string]any)
		urn, _ := res["urn"].(string)
		if gone[urn] {
			found[urn] = true
			continue
		}
		kept = append(kept, res)
	}
	for _, u := range urns {
		if !found[u] {
			return nil, fmt.Errorf("%s is not in the state", u)
		}
	}
	for _, raw := range kept {
		res := raw.(map[string]any)
		urn, _ := res["urn"].(string)
		if p, _ := res["parent"].(string); gone[p] {
			return nil, fmt.Errorf("%s is the parent of %s, which stays", p, urn)
		}
		if p, _ := res["provider"].(string); p != "" {
			if i := strings.LastIndex(p, "::"); i > 0 && gone[p[:i]] {
				return nil, fmt.Errorf("%s is the provider of %s, which stays", p[:i], urn)
			}
		}
		res["dependencies"] = without(res["dependencies"], gone)
		if pd, ok := res["propertyDependencies"].(map[string]any); ok {
			for k, v := range pd {
				pd[k] = without(v, gone)
			}
		}
		if d, _ := res["deletedWith"].(string); gone[d] {
			delete(res, "deletedWith")
		}
	}
	if kept == nil {
		kept = []any{}
	}
	dep["resources"] = kept
	return json.MarshalIndent(doc, "", "    ")
}

// without is a JSON list of URNs without the gone ones (nil stays nil).
func without(v any, gone map[string]bool) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := []any{}
	for _, x := range list {
		if s, _ := x.(string); !gone[s] {
			out = append(out, x)
		}
	}
	return out
}
