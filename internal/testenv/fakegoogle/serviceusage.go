package fakegoogle

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// extraServices are the Google APIs the project enables that the mock's
// Service Usage does not know. It knows a fixed list (the shared tools'
// patch 0002 adds the program's others) and answers enabling any other
// with 403 "Not found or permission denied for service(s): S", while
// Google's knows every public API: "The list includes all public services"
// (https://cloud.google.com/service-usage/docs/reference/rest/v1/services/list).
// Of the APIs bootstrap/program.go and stacks/program.go enable, only STS
// (the token exchange of workload identity federation) is refused;
// TestServiceUsage fails when the mock learns one of these, so that the
// list stays no longer than it must.
var extraServices = map[string]bool{
	"sts.googleapis.com": true,
}

// serviceUsage: the services of extraServices can be enabled, read,
// listed and disabled like any other
// (https://cloud.google.com/service-usage/docs/reference/rest/v1/services).
// The layer keeps their state per project itself and answers what
// pulumi-gcp's google_project_service calls, in the mock's shape (names
// with the project number, as Google's are):
//
//   - POST .../services/S:enable and :disable: a done long-running
//     operation whose response is the service;
//   - POST .../services:batchEnable: the mock's own services are sent on
//     to the mock, the layer's are enabled once the mock has succeeded
//     ("If enabling any service fails, then the entire batch fails, and no
//     state changes occur",
//     https://cloud.google.com/service-usage/docs/reference/rest/v1/services/batchEnable),
//     and the operation's response lists both;
//   - GET .../services/S, and the list GET .../services?filter=state:...,
//     the mock's list with the layer's services added on its last page;
//   - GET /v1/operations/NAME for the operations the layer made
//     (https://cloud.google.com/service-usage/docs/reference/rest/v1/operations/get).
//
// Everything else about Service Usage, and every request about another
// service, is the mock's.
type serviceUsage struct {
	m *mock

	mu sync.Mutex
	// state of the layer's services by project number + "/" + service:
	// ENABLED or DISABLED; absent until first enabled.
	state map[string]string
	// ops are the operations the layer answered, by name.
	ops map[string]map[string]any
	// batches are the mock's batchEnable operations that enabled the
	// layer's services too, by name: the services to add to their response.
	batches map[string][]any
	seq     int
}

func (*serviceUsage) name() string { return "service-usage" }

func newServiceUsage(m *mock) *serviceUsage {
	return &serviceUsage{m: m, state: map[string]string{}, ops: map[string]map[string]any{}, batches: map[string][]any{}}
}

var (
	suServices    = regexp.MustCompile(`^/v1/projects/([^/]+)/services$`)
	suBatchEnable = regexp.MustCompile(`^/v1/projects/([^/]+)/services:batchEnable$`)
	suService     = regexp.MustCompile(`^/v1/projects/([^/]+)/services/([^/:]+)(:enable|:disable)?$`)
	suOperation   = regexp.MustCompile(`^/v1/(operations/[^/]+)$`)
)

// Operation types of Service Usage's responses.
const (
	suType         = "type.googleapis.com/google.api.serviceusage.v1."
	suMetadataType = suType + "OperationMetadata"
)

func (r *serviceUsage) handle(x *exchange, next func() *reply) *reply {
	if x.host != "serviceusage.googleapis.com" {
		return next()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case x.method == http.MethodGet && suOperation.MatchString(x.path):
		return r.operation(x, next)
	case x.method == http.MethodGet && suServices.MatchString(x.path):
		return r.list(x, suServices.FindStringSubmatch(x.path)[1], next)
	case x.method == http.MethodPost && suBatchEnable.MatchString(x.path):
		return r.batchEnable(x, suBatchEnable.FindStringSubmatch(x.path)[1], next)
	case suService.MatchString(x.path):
		m := suService.FindStringSubmatch(x.path)
		if !extraServices[m[2]] {
			return next()
		}
		switch {
		case x.method == http.MethodGet && m[3] == "":
			return r.one(m[1], m[2], "")
		case x.method == http.MethodPost && m[3] != "":
			state := "ENABLED"
			if m[3] == ":disable" {
				state = "DISABLED"
			}
			return r.one(m[1], m[2], state)
		}
	}
	return next()
}

// number is a project's number, or an answer when there is none: the
// mock's own 403 for a project it does not know.
func (r *serviceUsage) number(project string) (string, *reply) {
	_, number, err := r.m.project(project)
	if err != nil {
		return "", googleError(r.name(), http.StatusBadGateway, "UNAVAILABLE", "fakegoogle: "+err.Error())
	}
	if number == "" {
		return "", googleError(r.name(), http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("Project '%s' not found or permission denied.", project))
	}
	return number, nil
}

// service is one of the layer's services as Service Usage returns it. A
// service never enabled in the project has no parent, as in the mock.
func (r *serviceUsage) service(number, service string) map[string]any {
	obj := map[string]any{"name": "projects/" + number + "/services/" + service, "state": "DISABLED"}
	if state, ok := r.state[number+"/"+service]; ok {
		obj["parent"] = "projects/" + number
		obj["state"] = state
	}
	return obj
}

// one reads a service, or sets its state (enable, disable) and answers the
// done operation.
func (r *serviceUsage) one(project, service, state string) *reply {
	number, rep := r.number(project)
	if rep != nil {
		return rep
	}
	if state == "" {
		return jsonReply(r.name(), r.service(number, service))
	}
	r.state[number+"/"+service] = state
	typ := "EnableServiceResponse"
	if state == "DISABLED" {
		typ = "DisableServiceResponse"
	}
	return r.done(number, map[string]any{"@type": suType + typ, "service": r.service(number, service)})
}

// batchEnable enables the layer's services of a batch and sends the rest
// on to the mock, first: when the mock refuses, nothing is enabled.
func (r *serviceUsage) batchEnable(x *exchange, project string, next func() *reply) *reply {
	body := x.object()
	ids, _ := body["serviceIds"].([]any)
	var ours, theirs []any
	for _, id := range ids {
		if s, ok := id.(string); ok && extraServices[s] {
			ours = append(ours, s)
		} else {
			theirs = append(theirs, id)
		}
	}
	if len(ours) == 0 {
		return next()
	}
	number, rep := r.number(project)
	if rep != nil {
		return rep
	}
	enable := func() []any {
		var list []any
		for _, s := range ours {
			r.state[number+"/"+s.(string)] = "ENABLED"
			list = append(list, r.service(number, s.(string)))
		}
		return list
	}
	if len(theirs) == 0 {
		return r.done(number, map[string]any{"@type": suType + "BatchEnableServicesResponse", "services": enable()})
	}
	body["serviceIds"] = theirs
	b, err := json.Marshal(body)
	if err != nil {
		return googleError(r.name(), http.StatusInternalServerError, "INTERNAL", "fakegoogle: "+err.Error())
	}
	x.body = b
	rep = next()
	if !rep.ok() {
		return rep
	}
	op := rep.object()
	name, _ := op["name"].(string)
	if name == "" {
		return rep
	}
	added := enable()
	if done, _ := op["done"].(bool); done {
		addServices(op, added)
	} else {
		r.batches[name] = added
	}
	rep.replace(r.name(), op)
	return rep
}

// addServices adds services to a done batchEnable operation's response.
func addServices(op map[string]any, services []any) {
	resp, _ := op["response"].(map[string]any)
	if resp == nil {
		resp = map[string]any{"@type": suType + "BatchEnableServicesResponse"}
		op["response"] = resp
	}
	list, _ := resp["services"].([]any)
	resp["services"] = append(list, services...)
}

// operation answers the layer's operations, and completes the response of
// the mock's batches that enabled the layer's services too.
func (r *serviceUsage) operation(x *exchange, next func() *reply) *reply {
	name := suOperation.FindStringSubmatch(x.path)[1]
	if op, ok := r.ops[name]; ok {
		return jsonReply(r.name(), op)
	}
	added, ok := r.batches[name]
	if !ok {
		return next()
	}
	rep := next()
	if !rep.ok() {
		return rep
	}
	op := rep.object()
	if done, _ := op["done"].(bool); !done {
		return rep
	}
	addServices(op, added)
	rep.replace(r.name(), op)
	return rep
}

// list adds the layer's services in the state the filter asks for to the
// mock's list, on its last page. The mock answers an unknown project or
// filter with an error, which goes back as it is.
func (r *serviceUsage) list(x *exchange, project string, next func() *reply) *reply {
	states := map[string]bool{}
	switch x.query.Get("filter") {
	case "state:ENABLED":
		states["ENABLED"] = true
	case "state:DISABLED":
		states["DISABLED"] = true
	case "":
		states["ENABLED"], states["DISABLED"] = true, true
	default:
		return next()
	}
	rep := next()
	if !rep.ok() {
		return rep
	}
	out := rep.object()
	if out == nil || out["nextPageToken"] != nil {
		return rep
	}
	number, errRep := r.number(project)
	if errRep != nil {
		return errRep
	}
	fields := listFields(x.query.Get("fields"))
	list, _ := out["services"].([]any)
	names := make([]string, 0, len(extraServices))
	for s := range extraServices {
		names = append(names, s)
	}
	sort.Strings(names)
	added := false
	for _, s := range names {
		svc := r.service(number, s)
		if !states[svc["state"].(string)] {
			continue
		}
		// Every listed service names its parent, as in the mock.
		svc["parent"] = "projects/" + number
		entry := map[string]any{}
		for k, v := range svc {
			if fields == nil || fields[k] {
				entry[k] = v
			}
		}
		list = append(list, entry)
		added = true
	}
	if !added {
		return rep
	}
	out["services"] = list
	rep.replace(r.name(), out)
	return rep
}

// listFields are the fields of each service that a list's fields parameter
// (a partial response, https://cloud.google.com/apis/docs/system-parameters)
// selects: nil for all. pulumi-gcp asks for "services/name,nextPageToken";
// "services(name,state)" is understood too.
func listFields(fields string) map[string]bool {
	if fields == "" {
		return nil
	}
	keys := map[string]bool{}
	depth, start := 0, 0
	var selectors []string
	for i, c := range fields {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				selectors = append(selectors, fields[start:i])
				start = i + 1
			}
		}
	}
	selectors = append(selectors, fields[start:])
	for _, s := range selectors {
		s = strings.TrimSpace(s)
		switch {
		case s == "services" || s == "services/*":
			return nil
		case strings.HasPrefix(s, "services/"):
			keys[strings.SplitN(strings.TrimPrefix(s, "services/"), "/", 2)[0]] = true
		case strings.HasPrefix(s, "services(") && strings.HasSuffix(s, ")"):
			for _, f := range strings.Split(s[len("services("):len(s)-1], ",") {
				keys[strings.SplitN(strings.TrimSpace(f), "/", 2)[0]] = true
			}
		}
	}
	return keys
}

// done answers a finished operation with response, and keeps it for a GET
// of its name. Google's names are "operations/" and an opaque ID.
func (r *serviceUsage) done(number string, response map[string]any) *reply {
	r.seq++
	name := fmt.Sprintf("operations/fakegoogle.p2-%s-%d", number, r.seq)
	op := map[string]any{"name": name, "metadata": map[string]any{"@type": suMetadataType}, "done": true, "response": response}
	r.ops[name] = op
	return jsonReply(r.name(), op)
}
