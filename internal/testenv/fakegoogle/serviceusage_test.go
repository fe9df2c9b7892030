package fakegoogle

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const serviceUsageHost = "serviceusage.googleapis.com"

// projectNumber asks the mock for a project's number.
func projectNumber(t *testing.T, g *Google, p string) string {
	t.Helper()
	a := must(t, "get project "+p, direct(t, g, http.MethodGet, "cloudresourcemanager.googleapis.com", "/v1/projects/"+p, nil), http.StatusOK)
	return fmt.Sprint(a.obj["projectNumber"])
}

// enabledList lists a project's enabled services as pulumi-gcp does: their
// names, and the keys of each listed object.
func enabledList(t *testing.T, c *http.Client, p string) (names []string, keys map[string]bool) {
	t.Helper()
	a := must(t, "list enabled services", do(t, c, http.MethodGet, serviceUsageHost,
		"/v1/projects/"+p+"/services?alt=json&fields=services%2Fname%2CnextPageToken&filter=state%3AENABLED&prettyPrint=false", nil), http.StatusOK)
	keys = map[string]bool{}
	list, _ := a.obj["services"].([]any)
	for _, s := range list {
		obj, _ := s.(map[string]any)
		for k := range obj {
			keys[k] = true
		}
		name, _ := obj["name"].(string)
		names = append(names, name)
	}
	return names, keys
}

// operationDone waits for a Service Usage operation, as the provider
// polls it, and returns the done operation.
func operationDone(t *testing.T, c *http.Client, op map[string]any) map[string]any {
	t.Helper()
	name, _ := op["name"].(string)
	if !strings.HasPrefix(name, "operations/") {
		t.Fatalf("operation name %q, want operations/...", name)
	}
	ok := eventually(t, 10*time.Second, func() bool {
		if done, _ := op["done"].(bool); done {
			return true
		}
		op = must(t, "get "+name, do(t, c, http.MethodGet, serviceUsageHost, "/v1/"+name, nil), http.StatusOK).obj
		return false
	})
	if !ok {
		t.Fatalf("operation %s not done: %v", name, op)
	}
	if op["error"] != nil {
		t.Fatalf("operation %s failed: %v", name, op["error"])
	}
	return op
}

// TestServiceUsage: an API the mock does not know (STS) can be enabled
// through the layer, reads back ENABLED by project ID or number, is listed
// with the mock's enabled services in their shape, and can be disabled.
func TestServiceUsage(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	number := projectNumber(t, g, project)
	base := "/v1/projects/" + project + "/services/"
	stsName := "projects/" + number + "/services/sts.googleapis.com"

	t.Run("the mock alone", func(t *testing.T) {
		var known []string
		for s := range extraServices {
			a := direct(t, g, http.MethodPost, serviceUsageHost, "/v1/projects/"+project2+"/services/"+s+":enable", map[string]any{})
			if a.status != http.StatusForbidden {
				known = append(known, s)
			}
		}
		if len(known) > 0 {
			sort.Strings(known)
			t.Errorf("the mock enables %v itself now: drop them from extraServices", known)
		}
	})

	// The mock's own services are what they were.
	must(t, "enable run", do(t, c, http.MethodPost, serviceUsageHost, base+"run.googleapis.com:enable", map[string]any{}), http.StatusOK)
	if got := lastRule(t, g, http.MethodPost, base+"run.googleapis.com:enable"); got != "" {
		t.Errorf("enabling a service the mock knows answered by rule %q", got)
	}

	a := must(t, "enable sts", do(t, c, http.MethodPost, serviceUsageHost, base+"sts.googleapis.com:enable", map[string]any{}), http.StatusOK)
	if got := lastRule(t, g, http.MethodPost, base+"sts.googleapis.com:enable"); got != "service-usage" {
		t.Errorf("answered by rule %q, want service-usage", got)
	}
	op := operationDone(t, c, a.obj)
	resp, _ := op["response"].(map[string]any)
	svc, _ := resp["service"].(map[string]any)
	if svc["name"] != stsName || svc["state"] != "ENABLED" {
		t.Errorf("enable operation's response %v, want service %s ENABLED", resp, stsName)
	}
	again := must(t, "get the operation", do(t, c, http.MethodGet, serviceUsageHost, "/v1/"+op["name"].(string), nil), http.StatusOK)
	if again.obj["done"] != true {
		t.Errorf("operation read back %v, want done", again.obj)
	}

	for _, p := range []string{project, number} {
		got := must(t, "get sts in "+p, do(t, c, http.MethodGet, serviceUsageHost, "/v1/projects/"+p+"/services/sts.googleapis.com", nil), http.StatusOK).obj
		if got["name"] != stsName || got["state"] != "ENABLED" || got["parent"] != "projects/"+number {
			t.Errorf("get sts in %s: %v, want %s ENABLED with parent projects/%s", p, got, stsName, number)
		}
	}

	names, keys := enabledList(t, c, project)
	for _, want := range []string{stsName, "projects/" + number + "/services/run.googleapis.com"} {
		if !slices.Contains(names, want) {
			t.Errorf("enabled list %v lacks %s", names, want)
		}
	}
	if len(keys) != 1 || !keys["name"] {
		t.Errorf("listed services have fields %v, want name only (fields=services/name)", keys)
	}
	// Without a field selection, the layer's entries have the mock's fields.
	full := must(t, "list all", do(t, c, http.MethodGet, serviceUsageHost, "/v1/projects/"+project+"/services?filter=state:ENABLED", nil), http.StatusOK)
	list, _ := full.obj["services"].([]any)
	var mockKeys, stsKeys []string
	for _, s := range list {
		obj, _ := s.(map[string]any)
		var ks []string
		for k := range obj {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		if obj["name"] == stsName {
			stsKeys = ks
		} else {
			mockKeys = ks
		}
	}
	if !slices.Equal(stsKeys, mockKeys) || len(stsKeys) == 0 {
		t.Errorf("sts listed with fields %v, the mock's services with %v", stsKeys, mockKeys)
	}

	a = must(t, "disable sts", do(t, c, http.MethodPost, serviceUsageHost, base+"sts.googleapis.com:disable",
		map[string]any{"checkIfServiceHasUsage": "SKIP"}), http.StatusOK)
	operationDone(t, c, a.obj)
	got := must(t, "get sts", do(t, c, http.MethodGet, serviceUsageHost, base+"sts.googleapis.com", nil), http.StatusOK).obj
	if got["state"] != "DISABLED" {
		t.Errorf("sts after disable: %v, want DISABLED", got)
	}
	if names, _ := enabledList(t, c, project); slices.Contains(names, stsName) {
		t.Errorf("enabled list after disable still has sts: %v", names)
	}
	disabled := must(t, "list disabled", do(t, c, http.MethodGet, serviceUsageHost, "/v1/projects/"+project+"/services?filter=state:DISABLED", nil), http.StatusOK)
	if !strings.Contains(disabled.raw, stsName) {
		t.Errorf("disabled list lacks sts: %s", disabled.raw)
	}

	// Another project has its own state; an unknown project is refused as
	// the mock refuses it.
	other := must(t, "get sts in "+project2, do(t, c, http.MethodGet, serviceUsageHost, "/v1/projects/"+project2+"/services/sts.googleapis.com", nil),
		http.StatusOK).obj
	if other["state"] != "DISABLED" {
		t.Errorf("sts in %s: %v, want DISABLED", project2, other)
	}
	wantError(t, "enable sts in an unknown project",
		do(t, c, http.MethodPost, serviceUsageHost, "/v1/projects/nowhere/services/sts.googleapis.com:enable", map[string]any{}),
		http.StatusForbidden, "PERMISSION_DENIED", "Project 'nowhere' not found or permission denied.")
}

// TestServiceUsageBatchEnable: a batch mixing a service the mock knows and
// one it does not enables both (the mock's really, in the mock); a batch
// the mock refuses enables none.
func TestServiceUsageBatchEnable(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	number := projectNumber(t, g, project)
	path := "/v1/projects/" + project + "/services:batchEnable"

	a := must(t, "batchEnable", do(t, c, http.MethodPost, serviceUsageHost, path,
		map[string]any{"serviceIds": []string{"run.googleapis.com", "sts.googleapis.com"}}), http.StatusOK)
	if got := lastRule(t, g, http.MethodPost, path); got != "service-usage" {
		t.Errorf("answered by rule %q, want service-usage", got)
	}
	op := operationDone(t, c, a.obj)
	resp, _ := op["response"].(map[string]any)
	list, _ := resp["services"].([]any)
	var got []string
	for _, s := range list {
		obj, _ := s.(map[string]any)
		got = append(got, fmt.Sprint(obj["name"], " ", obj["state"]))
	}
	sort.Strings(got)
	want := []string{
		"projects/" + number + "/services/run.googleapis.com ENABLED",
		"projects/" + number + "/services/sts.googleapis.com ENABLED",
	}
	if !slices.Equal(got, want) {
		t.Errorf("batch operation's services %v, want %v", got, want)
	}
	run := must(t, "the mock's run", direct(t, g, http.MethodGet, serviceUsageHost, "/v1/projects/"+project+"/services/run.googleapis.com", nil), http.StatusOK)
	if run.obj["state"] != "ENABLED" {
		t.Errorf("the mock's run.googleapis.com: %v, want ENABLED", run.obj)
	}
	names, _ := enabledList(t, c, project)
	for _, s := range []string{"run", "sts"} {
		if !slices.Contains(names, "projects/"+number+"/services/"+s+".googleapis.com") {
			t.Errorf("enabled list %v lacks %s", names, s)
		}
	}

	t.Run("only the layer's", func(t *testing.T) {
		p := "/v1/projects/" + project2 + "/services:batchEnable"
		a := must(t, "batchEnable", do(t, c, http.MethodPost, serviceUsageHost, p, map[string]any{"serviceIds": []string{"sts.googleapis.com"}}), http.StatusOK)
		if a.obj["done"] != true {
			t.Errorf("batch of the layer's services only: %v, want a done operation", a.obj)
		}
		operationDone(t, c, a.obj)
		if names, _ := enabledList(t, c, project2); !slices.Contains(names, "projects/"+projectNumber(t, g, project2)+"/services/sts.googleapis.com") {
			t.Errorf("enabled list %v lacks sts", names)
		}
	})

	t.Run("the mock refuses", func(t *testing.T) {
		p := "/v1/projects/" + project2 + "/services:batchEnable"
		must(t, "disable sts",
			do(t, c, http.MethodPost, serviceUsageHost, "/v1/projects/"+project2+"/services/sts.googleapis.com:disable", map[string]any{}), http.StatusOK)
		wantError(t, "batchEnable with a service nobody knows", do(t, c, http.MethodPost, serviceUsageHost, p,
			map[string]any{"serviceIds": []string{"unknown.example.com", "sts.googleapis.com"}}), http.StatusForbidden, "PERMISSION_DENIED", "unknown.example.com")
		got := must(t, "get sts", do(t, c, http.MethodGet, serviceUsageHost, "/v1/projects/"+project2+"/services/sts.googleapis.com", nil), http.StatusOK).obj
		if got["state"] != "DISABLED" {
			t.Errorf("sts after a failed batch: %v, want DISABLED", got)
		}
	})
}
