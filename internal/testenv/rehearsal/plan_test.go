package rehearsal_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// recordPlan records the copy's stack file offline, as make plan does.
func recordPlan(t *testing.T, e *rehearsal.Env, stack string) *recorder.Plan {
	t.Helper()
	st := config(t, e, stack)
	plan, err := recorder.Run(stacks.Program, recorder.Options{Project: st.Project, Stack: st.Name, Config: st.Config, SecretKeys: st.SecretKeys})
	if err != nil {
		t.Fatalf("recording %s: %v", stack, err)
	}
	return plan
}

// sameAsPlan: the engine's state holds exactly the resources make plan
// shows (URNs, types, parents, protection), each with the inputs make plan
// shows for it, as the real providers recorded them after their checks:
//
//   - an input of the plan is in the state with the same value; where the
//     plan's value comes from another resource's output or an offline
//     placeholder (a project number, a cluster's address), with the same
//     shape (keys, list lengths, kinds of values);
//   - an input in the state but not in the plan is one the provider added
//     as a default (listed in its __defaults).
//
// So an input the provider drops or rewrites (an empty list, a value it
// normalises) shows in make plan only if it shows in the deployment too.
func sameAsPlan(t *testing.T, e *rehearsal.Env, stack string, state []rehearsal.Resource) {
	t.Helper()
	plan := recordPlan(t, e, stack)
	line := func(urn, typ, parent string, protect bool) string {
		return fmt.Sprintf("%s type=%s parent=%s protect=%v", urn, typ, parent, protect)
	}
	byURN := map[string]*recorder.Resource{}
	var want, got []string
	for _, r := range plan.Resources {
		byURN[r.URN] = r
		want = append(want, line(r.URN, r.Type, r.Parent, r.Protect))
	}
	var custom []rehearsal.Resource
	for _, r := range state {
		switch {
		case r.Type == "pulumi:pulumi:Stack":
			continue
		case r.Type == "pulumi:providers:gcp" && strings.HasSuffix(r.URN, "::default_"+strings.ReplaceAll(rehearsal.GCPPluginVersion, ".", "_")):
			continue // the engine's default provider; the recorder has none
		}
		got = append(got, line(r.URN, r.Type, r.Parent, r.Protect))
		if r.Custom {
			custom = append(custom, r)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(want, got) {
		t.Errorf("engine state and plan differ:\n%s", diffLines(want, got))
	}
	if len(got) < 40 {
		t.Errorf("only %d resources in the state", len(got))
	}
	for _, r := range custom {
		p := byURN[r.URN]
		if p == nil {
			continue
		}
		for _, problem := range compareInputs(normalize(t, p.Inputs), r.Inputs, p.PropertyDependencies) {
			t.Errorf("%s: %s", short(r.URN), problem)
		}
	}
}

// compareInputs lists how a resource's recorded state inputs differ from
// the plan's.
func compareInputs(plan, state map[string]any, deps map[string][]string) []string {
	var problems []string
	for _, k := range sortedKeys(plan, state) {
		pv, pok := plan[k]
		sv, sok := state[k]
		switch {
		case !sok:
			problems = append(problems, fmt.Sprintf("input %s = %s is in the plan, not in the deployment", k, show(pv)))
		case !pok:
			if !providerAdded(state, k) {
				problems = append(problems, fmt.Sprintf("input %s = %s is in the deployment, not in the plan", k, show(sv)))
			}
		case isSecret(sv):
			// Encrypted in the state: its value cannot be compared here.
		case len(deps[k]) > 0:
			if d := shapeDiff(k, pv, sv); d != "" {
				problems = append(problems, d)
			}
		default:
			if d := valueDiff(k, pv, sv); d != "" {
				problems = append(problems, d)
			}
		}
	}
	return problems
}

// providerAdded tells whether key k of an object in the state is one the
// provider or the engine added: the Terraform bridge's __defaults record
// (at every level of an object) and the defaults it lists, and the
// engine's own inputs of a provider resource (version, __internal).
func providerAdded(obj map[string]any, k string) bool {
	if strings.HasPrefix(k, "__") || k == "version" && obj["__internal"] != nil {
		return true
	}
	ds, _ := obj["__defaults"].([]any)
	for _, d := range ds {
		if d == k {
			return true
		}
	}
	return false
}

// placeholder matches the offline recorder's stand-ins for what only
// Google knows.
var placeholder = regexp.MustCompile(regexp.QuoteMeta(recorder.PlaceholderProjectNumber) + "|" +
	regexp.QuoteMeta(recorder.PlaceholderClusterEndpoint) + "|" + regexp.QuoteMeta(recorder.PlaceholderClusterCA))

// valueDiff says how state value s differs from plan value p at path.
func valueDiff(path string, p, s any) string {
	switch pv := p.(type) {
	case map[string]any:
		sm, ok := s.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %s in the plan, %s in the deployment", path, show(p), show(s))
		}
		for _, k := range sortedKeys(pv, sm) {
			pe, pok := pv[k]
			se, sok := sm[k]
			switch {
			case !sok:
				return fmt.Sprintf("%s.%s = %s is in the plan, not in the deployment", path, k, show(pe))
			case !pok && providerAdded(sm, k):
				continue
			case !pok:
				return fmt.Sprintf("%s.%s = %s is in the deployment, not in the plan", path, k, show(se))
			}
			if d := valueDiff(path+"."+k, pe, se); d != "" {
				return d
			}
		}
		return ""
	case []any:
		sl, ok := s.([]any)
		if !ok || len(sl) != len(pv) {
			return fmt.Sprintf("%s: %s in the plan, %s in the deployment", path, show(p), show(s))
		}
		for i := range pv {
			if d := valueDiff(fmt.Sprintf("%s[%d]", path, i), pv[i], sl[i]); d != "" {
				return d
			}
		}
		return ""
	case string:
		if ss, ok := s.(string); ok && placeholder.MatchString(pv) {
			re := regexp.MustCompile("^" + placeholder.ReplaceAllStringFunc(regexp.QuoteMeta(pv), func(string) string { return ".+" }) + "$")
			if re.MatchString(ss) {
				return ""
			}
		}
	}
	if isSecret(s) || reflect.DeepEqual(p, s) {
		return ""
	}
	return fmt.Sprintf("%s: %s in the plan, %s in the deployment", path, show(p), show(s))
}

// shapeDiff says how state value s differs in shape from plan value p.
func shapeDiff(path string, p, s any) string {
	switch pv := p.(type) {
	case map[string]any:
		sm, ok := s.(map[string]any)
		if !ok {
			break
		}
		for _, k := range sortedKeys(pv, sm) {
			pe, pok := pv[k]
			se, sok := sm[k]
			if !pok && sok && providerAdded(sm, k) {
				continue
			}
			if !pok || !sok {
				return fmt.Sprintf("%s: keys %v in the plan, %v in the deployment", path, sortedKeys(pv, nil), sortedKeys(sm, nil))
			}
			if d := shapeDiff(path+"."+k, pe, se); d != "" {
				return d
			}
		}
		return ""
	case []any:
		sl, ok := s.([]any)
		if !ok || len(sl) != len(pv) {
			break
		}
		for i := range pv {
			if d := shapeDiff(fmt.Sprintf("%s[%d]", path, i), pv[i], sl[i]); d != "" {
				return d
			}
		}
		return ""
	default:
		if reflect.TypeOf(p) == reflect.TypeOf(s) || isSecret(s) {
			return ""
		}
	}
	return fmt.Sprintf("%s: %s in the plan, %s in the deployment (a value of another resource; compared by shape)", path, show(p), show(s))
}

func sortedKeys(a, b map[string]any) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// normalize gives plan values the types a JSON document has.
func normalize(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestCompareInputs: the comparison of plan and state inputs finds each
// kind of difference it exists for, and accepts what providers add.
func TestCompareInputs(t *testing.T) {
	deps := map[string][]string{"member": {"urn:pulumi:dev::asyncjobs::gcp:serviceaccount/account:Account::a"}}
	for _, tc := range []struct {
		name        string
		plan, state map[string]any
		want        string // a problem that must be found; "" for none
	}{
		{"equal", map[string]any{"a": 1.0, "b": []any{"x"}}, map[string]any{"a": 1.0, "b": []any{"x"}}, ""},
		{"provider default", map[string]any{"a": 1.0}, map[string]any{"a": 1.0, "project": "p", "__defaults": []any{"project"}}, ""},
		{"added, not a default", map[string]any{"a": 1.0}, map[string]any{"a": 1.0, "project": "p"}, "input project = \"p\" is in the deployment, not in the plan"},
		{"nested default", map[string]any{"o": map[string]any{"a": 1.0}}, map[string]any{"o": map[string]any{"a": 1.0, "b": 2.0, "__defaults": []any{"b"}}}, ""},
		{"nested, not a default", map[string]any{"o": map[string]any{"a": 1.0}},
			map[string]any{"o": map[string]any{"a": 1.0, "b": 2.0, "__defaults": []any{}}}, "o.b = 2 is in the deployment, not in the plan"},
		{"dropped empty list", map[string]any{"spec": map[string]any{"args": []any{}, "image": "i"}}, map[string]any{"spec": map[string]any{"image": "i"}},
			"spec.args = [] is in the plan, not in the deployment"},
		{"dropped input", map[string]any{"a": 1.0, "env": []any{}}, map[string]any{"a": 1.0}, "input env = [] is in the plan, not in the deployment"},
		{"normalised value", map[string]any{"filter": "a  =  b"}, map[string]any{"filter": "a = b"}, "filter: \"a  =  b\" in the plan, \"a = b\" in the deployment"},
		{"dependent value", map[string]any{"member": "x"}, map[string]any{"member": "y"}, ""},
		{"dependent value, other shape", map[string]any{"member": "x"}, map[string]any{"member": []any{"y"}}, "member:"},
		{"project number", map[string]any{"m": "serviceAccount:service-" + recorder.PlaceholderProjectNumber + "@gcp-sa-pubsub.iam.gserviceaccount.com"},
			map[string]any{"m": "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"}, ""},
		{"project number, other text", map[string]any{"m": "service-" + recorder.PlaceholderProjectNumber + "@a"},
			map[string]any{"m": "service-1@b"}, "m: "},
		{"secret", map[string]any{"k": "v"}, map[string]any{"k": map[string]any{"4dabf18193072939515e22adb298388d": secretSig, "ciphertext": "x"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(compareInputs(tc.plan, tc.state, deps), "\n")
			if tc.want == "" && got != "" {
				t.Errorf("found %q, want nothing", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("found %q, want %q", got, tc.want)
			}
		})
	}
}
