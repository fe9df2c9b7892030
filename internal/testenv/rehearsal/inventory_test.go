package rehearsal_test

import (
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

// objectKinds find the objects the program's resources are, in the paths
// of requests: host, path pattern (its first group is the object's name),
// and whether the object has an IAM policy of its own.
var objectKinds = []struct {
	kind, host string
	path       *regexp.Regexp
	iam        bool
}{
	{"serviceAccount", "iam.googleapis.com", regexp.MustCompile(`^/v1/(projects/[^/]+/serviceAccounts/[^/:]+@[^/:]+)`), true},
	{"topic", "pubsub.googleapis.com", regexp.MustCompile(`^/v1/(projects/[^/]+/topics/[^/:]+)`), true},
	{"subscription", "pubsub.googleapis.com", regexp.MustCompile(`^/v1/(projects/[^/]+/subscriptions/[^/:]+)`), true},
	{"queue", "cloudtasks.googleapis.com", regexp.MustCompile(`^/v2(?:beta3)?/(projects/[^/]+/locations/[^/]+/queues/[^/:]+)`), true},
	{"service", "run.googleapis.com", regexp.MustCompile(`^/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+)`), true},
	{"alertPolicy", "monitoring.googleapis.com", regexp.MustCompile(`^/v3/(projects/[^/]+/alertPolicies/[^/:]+)`), false},
	{"notificationChannel", "monitoring.googleapis.com", regexp.MustCompile(`^/v3/(projects/[^/]+/notificationChannels/[^/:]+)`), false},
	{"dashboard", "monitoring.googleapis.com", regexp.MustCompile(`^/v1/(projects/[^/]+/dashboards/[^/:]+)`), false},
	{"metric", "logging.googleapis.com", regexp.MustCompile(`^/v2/(projects/[^/]+/metrics/[^/:]+)`), false},
	{"cluster", "container.googleapis.com", regexp.MustCompile(`^/v1(?:beta1)?/(projects/[^/]+/locations/[^/]+/clusters/[^/:]+)`), false},
}

// versions of the APIs the inventory reads objects with.
var versions = map[string]string{
	"iam.googleapis.com": "v1", "pubsub.googleapis.com": "v1", "cloudtasks.googleapis.com": "v2",
	"run.googleapis.com": "v2", "logging.googleapis.com": "v2", "container.googleapis.com": "v1beta1",
}

// inventory lists what the fake Google holds: "kind name" to a description
// of the grants on it (the members of each role, sorted), plus the IAM
// policy of every project of the copy's stack files. mockgcp has list
// methods for few kinds, so the candidates are every object a request
// through the layer ever named, each read back: those that exist are
// listed. Enabled APIs are left out: stacks share them and never disable
// them.
func inventory(t *testing.T, e *rehearsal.Env) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range projects(t, e) {
		out["project "+p] = policy(t, e, "cloudresourcemanager.googleapis.com/v1/projects/"+p)
	}
	seen := map[string]bool{}
	for _, r := range e.Google.Requests() {
		for _, k := range objectKinds {
			m := k.path.FindStringSubmatch(r.Path)
			if r.Host != k.host || m == nil || seen[k.kind+" "+m[1]] {
				continue
			}
			seen[k.kind+" "+m[1]] = true
			version := versions[k.host]
			if version == "" {
				version = strings.Split(strings.TrimPrefix(r.Path, "/"), "/")[0]
			}
			base := k.host + "/" + version + "/" + m[1]
			err := e.GoogleDo(http.MethodGet, base, nil, nil)
			switch {
			case err != nil && strings.Contains(err.Error(), " 404 "):
				continue
			case err != nil:
				t.Fatalf("inventory: %v", err)
			}
			grants := ""
			if k.iam {
				grants = policy(t, e, base)
			}
			out[k.kind+" "+m[1]] = grants
		}
	}
	return out
}

// projects lists the projects the copy's stack files use.
func projects(t *testing.T, e *rehearsal.Env) []string {
	t.Helper()
	names, err := stackfile.Stacks(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if p := config(t, e, n).Config["gcp:project"]; p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// policy describes the IAM policy of a resource: "role=member,member;..."
// sorted.
func policy(t *testing.T, e *rehearsal.Env, path string) string {
	t.Helper()
	var p struct {
		Bindings []struct {
			Role    string   `json:"role"`
			Members []string `json:"members"`
		} `json:"bindings"`
	}
	if err := e.GoogleDo(http.MethodPost, path+":getIamPolicy", map[string]any{}, &p); err != nil {
		t.Fatalf("inventory: %v", err)
	}
	var parts []string
	for _, b := range p.Bindings {
		if len(b.Members) == 0 {
			continue
		}
		m := slices.Sorted(slices.Values(b.Members))
		parts = append(parts, b.Role+"="+strings.Join(m, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}
