package fakegoogle

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// queueTombstone is how long Cloud Tasks keeps a deleted queue's name:
// "If you delete a queue, a queue with the same name can't be created for
// 7 days" (the DeleteQueue reference as the Workflows connector still
// quotes it,
// https://cloud.google.com/workflows/docs/reference/googleapis/cloudtasks/v2/projects.locations.queues/delete).
// The REST reference now speaks of "a tombstone window of up to 3 days"
// during which a create may even appear to succeed
// (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues/delete);
// the layer keeps the documented refusal for the longer bound.
const queueTombstone = 7 * 24 * time.Hour

// queueNameReserved: creating a queue whose name was deleted within the
// tombstone answers 400 FAILED_PRECONDITION "The queue cannot be created
// because a queue with this name existed too recently." (Google's text, as
// Terraform users report it: "Error 400: The queue cannot be created ...").
// The mock forgets a deleted queue at once, so a replacement that deletes
// a queue and creates one of the same name would pass.
type queueNameReserved struct {
	mu      sync.Mutex
	deleted map[string]time.Time // queue name -> when it was deleted
}

func (*queueNameReserved) name() string { return "queue-name-reserved" }

var (
	queuesPath = regexp.MustCompile(`^/v2(beta\d)?/projects/[^/]+/locations/[^/]+/queues$`)
	queuePath  = regexp.MustCompile(`^/v2(beta\d)?/(projects/[^/]+/locations/[^/]+/queues/[^/:]+)$`)
)

func (r *queueNameReserved) handle(x *exchange, next func() *reply) *reply {
	if x.host != "cloudtasks.googleapis.com" {
		return next()
	}
	switch {
	case x.method == http.MethodPost && queuesPath.MatchString(x.path):
		name, _ := x.object()["name"].(string)
		r.mu.Lock()
		when, ok := r.deleted[name]
		r.mu.Unlock()
		if ok && time.Since(when) < queueTombstone {
			return googleError(r.name(), http.StatusBadRequest, "FAILED_PRECONDITION",
				"The queue cannot be created because a queue with this name existed too recently.")
		}
		return next()
	case x.method == http.MethodDelete && queuePath.MatchString(x.path):
		rep := next()
		if rep.ok() {
			name := queuePath.FindStringSubmatch(x.path)[2]
			r.mu.Lock()
			r.deleted[name] = time.Now()
			r.mu.Unlock()
		}
		return rep
	}
	return next()
}

// queueFieldPaths are the fields of a queue the mock's UpdateQueue knows,
// by the message that holds them. It knows only these leaf paths, while
// Google takes a message's name as a path too ("retryConfig" updates every
// field of the retry configuration: the updateMask of
// https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues/patch
// is a google.protobuf.FieldMask, whose paths may name a message). The
// provider sends message paths. rateLimits.maxBurstSize is output only.
var queueFieldPaths = map[string][]string{
	"rateLimits":  {"rateLimits.maxDispatchesPerSecond", "rateLimits.maxConcurrentDispatches"},
	"retryConfig": {"retryConfig.maxAttempts", "retryConfig.minBackoff", "retryConfig.maxBackoff", "retryConfig.maxDoublings"},
}

// queueUpdateMask spells a queue patch's message paths as the mock's leaf
// paths, so that the mock applies what Google would. A mask naming a field
// the mock does not update at all (stackdriverLoggingConfig) still gets the
// mock's 400.
type queueUpdateMask struct{}

func (queueUpdateMask) name() string { return "queue-update-mask" }

func (r queueUpdateMask) handle(x *exchange, next func() *reply) *reply {
	if x.host != "cloudtasks.googleapis.com" || x.method != http.MethodPatch || !queuePath.MatchString(x.path) {
		return next()
	}
	mask := x.query.Get("updateMask")
	if mask == "" {
		return next()
	}
	var paths []string
	changed := false
	for _, p := range strings.Split(mask, ",") {
		if leaves, ok := queueFieldPaths[p]; ok {
			paths = append(paths, leaves...)
			changed = true
			continue
		}
		paths = append(paths, p)
	}
	if !changed {
		return next()
	}
	x.query.Set("updateMask", strings.Join(paths, ","))
	x.rawQuery = x.query.Encode()
	rep := next()
	if rep.rule == "" {
		rep.rule = r.name()
	}
	return rep
}
